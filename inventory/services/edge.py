"""Domain actions on leaf nodes, and what a leaf fetches to run.

A leaf node has two NATS users, both provisioned with it:

- its **leaf user** in the organization's account, with the per-organization role `leaf-node` (publish and
  subscribe `>` within the account): the credentials of its leaf remote to the hub, so that the account's
  traffic flows both ways, JetStream's cross-domain API (`$JS.<domain>.API.>`) included;
- its **system user** in the system account, allowed to receive only the claim updates of its organization's
  account (`$SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE`, and the older `$SYS.ACCOUNT.<account>.CLAIMS.UPDATE`) and
  to send nothing: the credentials of a second leaf remote, bound to the system account. Through it the hub's
  account pushes (new users' scopes, revocations) reach the leaf's memory resolver while the two are connected,
  and nothing else of the platform's system traffic does.

Deactivating a leaf revokes both users (the leaf's own connection to the hub drops, its local devices keep their
own credentials); reactivating issues both afresh; deleting revokes them and removes them.

`bootstrap(leaf)` gathers what the leaf needs to start its nats-server (`inventory.leafconf` writes the config).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from credentials.models import Account, Host, NatsRole, NatsUser
from credentials.services import nats as nats_svc
from inventory import leafconf
from inventory.models import LeafNode
from inventory.services.contracts import account_of

LEAF_ROLE = "leaf-node"
#: What a leaf node's form and API change (identities and `active` have actions of their own; `code` is frozen).
EDITABLE_FIELDS = ("name", "description", "domain", "location", "synced", "report_interval", "nebula_host")


def claim_update_subjects(account: Account) -> list[str]:
    return [f"$SYS.REQ.ACCOUNT.{account.public_key}.CLAIMS.UPDATE", f"$SYS.ACCOUNT.{account.public_key}.CLAIMS.UPDATE"]


def leaf_role(organization) -> NatsRole:
    """The organization's `leaf-node` role, created on first use: a leaf remote carries the whole account."""
    role = NatsRole.objects.filter(organization=organization, name=LEAF_ROLE).first()
    if role is not None:
        return role
    return nats_svc.create_role(
        organization=organization,
        name=LEAF_ROLE,
        description="Leaf nodes (edge sites): the account's traffic both ways over the leaf connection.",
        publish_allow=[">"],
        subscribe_allow=[">"],
    )


def _user_name(leaf: LeafNode) -> str:
    return f"leaf-{leaf.code}"


def _system_user_name(leaf: LeafNode) -> str:
    return f"leaf-{leaf.organization.slug}-{leaf.code}"[:100]


def _provision_users(leaf: LeafNode) -> None:
    account = account_of(leaf.organization)
    try:
        leaf.nats_user = nats_svc.create_user(
            account=account,
            name=_user_name(leaf),
            owner_kind=NatsUser.OwnerKind.LEAF_NODE,
            role=leaf_role(leaf.organization),
            description=f"Leaf remote of the leaf node {leaf.code}.",
        )
        leaf.system_user = nats_svc.create_user(
            account=nats_svc.system_account(),
            name=_system_user_name(leaf),
            owner_kind=NatsUser.OwnerKind.LEAF_NODE,
            description=f"Claim updates of {account.name} for the leaf node {leaf.code} of {leaf.organization.slug}.",
            subscribe_allow=claim_update_subjects(account),
        )
    except ValidationError as exc:
        raise ValidationError({"nats_user": exc.messages}) from None


def _check_host(leaf: LeafNode, host: Host | None) -> Host | None:
    if host is None:
        return None
    host = Host.objects.select_for_update(of=("self",)).get(pk=host.pk)
    if host.organization_id != leaf.organization_id:
        raise ValidationError({"nebula_host": "This Nebula host belongs to another organization."})
    holder = getattr(host, "thing", None)
    if holder is not None:
        raise ValidationError({"nebula_host": f"This Nebula host is linked to the thing {holder.code}."})
    return host


@transaction.atomic
def create_leaf_node(*, organization, nebula_host: Host | None = None, **fields) -> LeafNode:
    """A leaf node with its leaf user and system user; any refusal leaves nothing."""
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"code"}
    if unknown:
        raise ValidationError({name: "Set by the leaf node's actions, not on create." for name in sorted(unknown)})
    leaf = LeafNode(organization=organization, **fields)
    leaf.nebula_host = _check_host(leaf, nebula_host)
    leaf.full_clean()
    leaf.save()
    _provision_users(leaf)
    leaf.save(update_fields=["nats_user", "system_user", "updated"])
    return leaf


def lock_leaf(leaf: LeafNode) -> LeafNode:
    return (
        LeafNode.objects.select_for_update(of=("self",))
        .select_related("organization", "location", "nats_user", "system_user", "nebula_host")
        .get(pk=leaf.pk)
    )


@transaction.atomic
def update_leaf_node(leaf: LeafNode, **changes) -> LeafNode:
    """Change the editable fields; the code is frozen (the model refuses a change)."""
    leaf = lock_leaf(leaf)
    refused = set(changes) - set(EDITABLE_FIELDS) - {"code"}
    if refused:
        raise ValidationError({name: "Changed by the leaf node's actions only." for name in sorted(refused)})
    if "nebula_host" in changes and changes["nebula_host"] != leaf.nebula_host:
        changes["nebula_host"] = _check_host(leaf, changes["nebula_host"])
    for name, value in changes.items():
        setattr(leaf, name, value)
    leaf.full_clean()
    leaf.save()
    return leaf


def _users(leaf: LeafNode) -> list[NatsUser]:
    return [user for user in (leaf.nats_user, leaf.system_user) if user is not None]


@transaction.atomic
def deactivate_leaf_node(leaf: LeafNode) -> LeafNode:
    """Switch the leaf off: its users are revoked, so the hub drops its leaf connections."""
    leaf = lock_leaf(leaf)
    if not leaf.active:
        return leaf
    leaf.active = False
    leaf.save(update_fields=["active", "updated"])
    for user in _users(leaf):
        if user.active:
            nats_svc.deactivate_user(user)
    return leaf


@transaction.atomic
def reactivate_leaf_node(leaf: LeafNode) -> LeafNode:
    """Switch the leaf on with new keys (its earlier credentials stay revoked): it fetches its bootstrap again."""
    leaf = lock_leaf(leaf)
    if leaf.active:
        return leaf
    leaf.active = True
    leaf.save(update_fields=["active", "updated"])
    for user in _users(leaf):
        if not user.active:
            nats_svc.reactivate_user(user)
    if leaf.nats_user is None:
        _provision_users(leaf)
        leaf.save(update_fields=["nats_user", "system_user", "updated"])
    return leaf


@transaction.atomic
def delete_leaf_node(leaf: LeafNode) -> None:
    """Delete the leaf with its users (their delete signals revoke their keys)."""
    leaf = lock_leaf(leaf)
    users = _users(leaf)
    leaf.delete()
    for user in users:
        user.delete()


def record_report(leaf: LeafNode, status: dict) -> LeafNode:
    """The leaf reported in: when, and what it says of itself (no audit event: this is liveness, every interval)."""
    now = timezone.now()
    LeafNode.objects.filter(pk=leaf.pk).update(last_seen_at=now, last_status=status)
    leaf.last_seen_at, leaf.last_status = now, status
    return leaf


# --- Bootstrap ---------------------------------------------------------------------------------------------------


def hub_urls(leaf: LeafNode) -> list[str]:
    """The hub's leaf-node URLs: over the Nebula overlay when the leaf has a host and overlay URLs are set."""
    overlay = list(getattr(settings, "HUB_LEAF_OVERLAY_URLS", []) or [])
    if leaf.nebula_host_id and overlay:
        return overlay
    return list(getattr(settings, "HUB_LEAF_URLS", []) or [])


@dataclass
class Bootstrap:
    domain: str
    code: str
    creds: str
    system_creds: str
    account_jwt: str
    account_pub: str
    operator_jwt: str
    sys_account_jwt: str
    sys_account_pub: str
    hub_urls: list[str]

    def as_dict(self, paths: leafconf.Paths) -> dict:
        """The bootstrap response: the fields above and the `nats-leaf.conf` for files at `paths`."""
        return {
            "domain": self.domain,
            "code": self.code,
            "creds": self.creds,
            "system_creds": self.system_creds,
            "account_jwt": self.account_jwt,
            "account_pub": self.account_pub,
            "operator_jwt": self.operator_jwt,
            "sys_account_jwt": self.sys_account_jwt,
            "sys_account_pub": self.sys_account_pub,
            "hub_urls": self.hub_urls,
            "nats_leaf_conf": self.conf(paths),
        }

    def conf(self, paths: leafconf.Paths) -> str:
        return leafconf.render(
            leafconf.LeafConf(
                server_name=self.domain,
                domain=self.domain,
                operator_jwt=self.operator_jwt,
                system_account=self.sys_account_pub,
                accounts={self.sys_account_pub: self.sys_account_jwt, self.account_pub: self.account_jwt},
                account=self.account_pub,
                hub_urls=self.hub_urls,
            ),
            paths,
        )


@transaction.atomic
def bootstrap(leaf: LeafNode) -> Bootstrap:
    """What the leaf needs to run: its credentials (a JWT issued now), the operator's, the system account's and its
    account's JWTs, and the hub's URLs. The caller audits the read: the creds hold the leaf's seed."""
    leaf = lock_leaf(leaf)
    if not leaf.active or leaf.nats_user is None or leaf.system_user is None:
        raise ValidationError("This leaf node is deactivated.")
    account = Account.objects.get(pk=leaf.nats_user.account_id)
    system = nats_svc.system_account()
    if account.organization_id != leaf.organization_id:
        raise ValidationError("The leaf's NATS user is in another organization's account.")
    if not account.active:
        raise ValidationError("The organization's NATS account is switched off.")
    creds = nats_svc.user_creds(leaf.nats_user)
    system_creds = nats_svc.user_creds(leaf.system_user)
    account.refresh_from_db()  # issuing a JWT may have re-signed nothing, but read the JWT as it is now
    return Bootstrap(
        domain=leaf.domain,
        code=leaf.code,
        creds=creds,
        system_creds=system_creds,
        account_jwt=account.jwt,
        account_pub=account.public_key,
        operator_jwt=nats_svc.get_operator().jwt,
        sys_account_jwt=system.jwt,
        sys_account_pub=system.public_key,
        hub_urls=hub_urls(leaf),
    )
