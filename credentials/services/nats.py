"""Domain actions for the NATS chain of trust.

Every action that changes an account locks the account row, changes it, re-signs its JWT with a strictly
increasing `iat`, bumps `revision` and queues a push after commit (through `credentials.outbox`: the tasks and
the push pipeline sit above this module and are never imported here). User JWTs are never pushed: they are
bearer credentials verified against the account, which carries the revocations.

User JWTs expire (`NATS_USER_JWT_LIFETIME` per owner kind), so the revocations stay bounded: an entry is
pruned once every JWT it refuses has expired, which nats-server refuses on its own. Every `.creds` download
carries a JWT issued at that moment; devices fetch theirs again before it expires, and a beat task renews
the stored JWT of every user whose seed is held here.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit import record_bulk
from credentials import outbox
from credentials.codecs import natsjwt as nj
from credentials.models import (
    Account,
    AccountExport,
    AccountImport,
    AccountSigningKey,
    AccountTombstone,
    NatsRole,
    NatsUser,
    Operator,
    OperatorSigningKey,
)
from credentials.models.nats import validate_tags
from credentials.secrets import reveal, seal
from stoneage.db import insert_rows, reserve_primary_keys
from tenancy.models import Organization

log = logging.getLogger(__name__)

SYSTEM_ACCOUNT_NAME = "SYS"
SYSTEM_USER_NAME = "sys"
PLATFORM_SERVICE_USER = "platform-twin-reader"
TWIN_BUCKETS = ("twin", "twin_desired")
#: Where the platform service user tells devices that their config changed (`inventory.devices.notify`); each
#: thing's contract lets it subscribe to its own `_SA.config.<code>` (`inventory.contracts`).
DEVICE_NOTIFY_SUBJECTS = "_SA.config.>"
#: Subjects nothing may use: the deny entry that turns an empty allow list into "nothing allowed".
EVERYTHING = ">"


class NotBootstrapped(Exception):
    def __init__(self) -> None:
        super().__init__("The NATS operator does not exist yet; run `manage.py bootstrap` first.")


def now() -> int:
    return int(time.time())


# --- Keys ------------------------------------------------------------------------------------------------------


def keypair_of(obj, field: str = "seed") -> nj.KeyPair:
    return nj.keypair_from_seed(reveal(obj, field))


def _add_signing_key(model, kind: str, **owner):
    kp = nj.create_keypair(kind)
    key = model(public_key=kp.public_key, **owner)
    seal(key, "seed", kp.seed)
    key.save()
    return key


def newest_signing_key(keys) -> object:
    return keys.order_by("-created", "-id").first()


def unscoped_signing_keys(account: Account) -> QuerySet[AccountSigningKey]:
    """The keys that sign users carrying their own permissions (people, services, leaf nodes); the newest signs."""
    return AccountSigningKey.objects.filter(account_id=account.pk, scope_template__isnull=True)


# --- Operator --------------------------------------------------------------------------------------------------


def get_operator() -> Operator:
    operator = Operator.objects.filter(pk=1).first()
    if operator is None:
        raise NotBootstrapped
    return operator


def system_account() -> Account:
    account = Account.objects.filter(is_system=True).first()
    if account is None:
        raise NotBootstrapped
    return account


def operator_signer() -> nj.KeyPair:
    key = newest_signing_key(OperatorSigningKey.objects.filter(operator_id=1))
    if key is None:
        raise NotBootstrapped
    return keypair_of(key)


def _operator_claims(operator: Operator, sys_account: Account | None) -> nj.OperatorClaims:
    return nj.OperatorClaims(
        subject=operator.public_key,
        name=operator.name,
        signing_keys=list(operator.signing_keys.values_list("public_key", flat=True)),
        system_account=sys_account.public_key if sys_account else "",
    )


def sign_operator(operator: Operator) -> bool:
    """Re-sign the operator JWT if its content changed; returns whether it did."""
    claims = _operator_claims(operator, Account.objects.filter(is_system=True).first())
    if operator.jwt:
        current = nj.decode(operator.jwt, verify=False)
        expected = claims.nats_json()
        if current.get("nats") == expected and current.get("name") == operator.name:
            return False
    operator.jwt = nj.encode(claims, keypair_of(operator))
    operator.save(update_fields=["jwt", "updated"])
    return True


# --- Accounts --------------------------------------------------------------------------------------------------


def _limit(value: int) -> int:
    return -1 if value < 0 else value


def account_claims(account: Account) -> nj.AccountClaims:
    signing_keys = [key.scope_claim() if key.is_scoped else key.public_key for key in account.signing_keys.all()]
    revocations = {k: int(v) for k, v in (account.revocations or {}).items()}
    if account.is_system:
        return nj.system_account_claims(account.public_key, signing_keys=signing_keys, revocations=revocations)
    jetstream = account.max_jetstream_disk != 0 or account.max_jetstream_memory != 0
    limits = nj.AccountLimits(
        conn=_limit(account.max_connections),
        leaf=_limit(account.max_leaf_nodes),
        subs=_limit(account.max_subscriptions),
        data=_limit(account.max_data),
        payload=_limit(account.max_payload),
        disk_storage=_limit(account.max_jetstream_disk) if jetstream else 0,
        mem_storage=_limit(account.max_jetstream_memory) if jetstream else 0,
        streams=_limit(account.max_streams) if jetstream else 0,
        consumer=_limit(account.max_consumers) if jetstream else 0,
    )
    exports = [
        nj.Export(
            name=e.name,
            subject=e.subject,
            type=e.kind,
            token_req=e.token_required,
            response_type=e.response_type,
            response_threshold_seconds=e.response_threshold_ms / 1000,
            account_token_position=e.account_token_position,
            advertise=e.advertise,
            description=e.description,
        )
        for e in account.exports.all()
    ]
    imports = [
        nj.Import(
            name=i.name,
            subject=i.subject,
            account=i.exporter.public_key,
            type=i.kind,
            local_subject=i.local_subject,
            share=i.share,
            token=i.token,
        )
        for i in account.imports.select_related("exporter")
    ]
    return nj.AccountClaims(
        subject=account.public_key,
        name=account.name,
        limits=limits,
        signing_keys=signing_keys,
        revocations=revocations or None,
        exports=exports,
        imports=imports,
    )


def lock_account(account_or_id) -> Account:
    pk = getattr(account_or_id, "pk", account_or_id)
    return Account.objects.select_for_update().get(pk=pk)


def switched_on(account: Account) -> bool:
    """Whether the account belongs on NATS: not suspended, and its organization (if any) is active."""
    if account.suspended:
        return False
    if account.organization_id is None:
        return True
    return Organization.objects.filter(pk=account.organization_id, active=True).exists()


def sign_account(account: Account) -> Account:
    """Re-sign and save the account JWT (the caller holds the row lock) and queue its push after commit.

    `active` is derived here, at every revision, from the organization's state and the suspension.
    `iat` is strictly increasing per account, so two different JWTs of one account never share a second
    (peers syncing the resolver compare jti and iat). Revocations that can no longer matter are pruned.
    """
    account.active = switched_on(account)
    prune_revocations(account)
    iat = max(now(), account.jwt_iat + 1)
    account.jwt = nj.encode(account_claims(account), operator_signer(), iat=iat)
    account.jwt_iat = iat
    account.revision += 1
    account.save()
    queue_push_after_commit(account.pk)
    return account


def queue_push_after_commit(account_id: int) -> None:
    transaction.on_commit(lambda: outbox.push_account(account_id))


def default_limits() -> dict[str, int]:
    return dict(settings.NATS_DEFAULT_ACCOUNT_LIMITS)


@transaction.atomic
def create_account(*, organization=None, name: str, is_system: bool = False, limits: dict | None = None) -> Account:
    account = Account(
        organization=organization,
        is_system=is_system,
        name=name,
        public_key=nj.create_account().public_key,  # the seed is dropped: nothing signs with it (see Account)
        **({} if is_system else {**default_limits(), **(limits or {})}),
    )
    account.full_clean()
    account.save()
    _add_signing_key(AccountSigningKey, nj.ACCOUNT, account=account)
    return sign_account(lock_account(account))


@transaction.atomic
def update_account(account: Account, **changes) -> Account:
    """Change an account's limits or suspension (`Account.EDITABLE_FIELDS`). A suspended account is deleted from
    NATS (`$SYS.REQ.CLAIMS.DELETE`, every client disconnected) until the suspension is lifted; lifting it
    brings the account back only if its organization is active."""
    unknown = set(changes) - set(Account.EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not changeable on an account: {', '.join(sorted(unknown))}.")
    account = lock_account(account)
    for name, value in changes.items():
        setattr(account, name, value)
    account.full_clean()
    return sign_account(account)


@transaction.atomic
def follow_organization(organization: Organization) -> bool:
    """Bring the organization's account onto NATS or off it when the organization's `active` changed (nothing
    else of an organization reaches NATS); returns whether it did. The account's own suspension is never
    touched."""
    account = Account.objects.select_for_update().filter(organization=organization).first()
    if account is None or account.active == switched_on(account):
        return False
    sign_account(account)
    return True


@transaction.atomic
def revoke_keys(account: Account, public_keys: Iterable[str], at: int | None = None) -> Account:
    """Refuse every JWT issued so far for these keys, and remember when the last of them expires."""
    account = lock_account(account)
    at = at or now()
    keys = list(public_keys)
    # NATS revokes a key's JWTs issued at or before the cutoff, and `issue_user_jwt` may date a JWT a second
    # ahead of now (just past an earlier cutoff): the cutoff covers every JWT issued so far for the key.
    issued = {
        key: (iat, expire_by)
        for key, iat, expire_by in NatsUser.objects.filter(public_key__in=keys).values_list(
            "public_key", "jwt_iat", "key_jwts_expire_by"
        )
    }
    revocations = dict(account.revocations or {})
    expiries = dict(account.revocation_expiries or {})
    for key in keys:
        iat, expire_by = issued.get(key, (0, None))  # a key of no user: nothing known, kept forever
        expiry_known = key not in revocations or key in expiries
        revocations[key] = max(int(revocations.get(key, 0)), at, iat)
        if expire_by is None or not expiry_known:
            expiries.pop(key, None)
        else:
            expiries[key] = max(int(expiries.get(key, 0)), expire_by)
    account.revocations = revocations
    account.revocation_expiries = expiries
    return sign_account(account)


def prunable_revocations(account: Account) -> set[str]:
    """Revoked keys whose entry can no longer matter.

    An entry `<key>: <cutoff>` refuses the key's JWTs issued at or before the cutoff. Once every one of them
    has expired (`revocation_expiries`, plus `NATS_REVOCATION_PRUNE_MARGIN` for servers whose clock lags),
    nats-server refuses them for their expiry alone; an entry at or before the `*` cutoff (every user of the
    account) is covered by it. Entries without a known expiry, and `*` itself, stay.
    """
    deadline = now() - settings.NATS_REVOCATION_PRUNE_MARGIN
    revocations, expiries = account.revocations or {}, account.revocation_expiries or {}
    everyone = revocations.get("*")
    return {
        key
        for key, cutoff in revocations.items()
        if key != "*"
        and (
            (key in expiries and int(expiries[key]) < deadline)
            or (everyone is not None and int(cutoff) <= int(everyone))
        )
    }


def prune_revocations(account: Account) -> int:
    """Drop the prunable revocations from `account` (the caller holds the row lock and signs it)."""
    pruned = prunable_revocations(account)
    revocations = {k: v for k, v in (account.revocations or {}).items() if k not in pruned}
    expiries = {k: v for k, v in (account.revocation_expiries or {}).items() if k in revocations}
    account.revocations, account.revocation_expiries = revocations, expiries
    return len(pruned)


@transaction.atomic
def prune_account_revocations(account: Account) -> int:
    """Prune and re-sign `account` if any revocation can go; returns how many went."""
    account = lock_account(account)
    if not prunable_revocations(account):
        return 0
    count = prune_revocations(account)
    sign_account(account)
    return count


def prune_all_revocations() -> int:
    """The periodic pass (sign_account prunes too, but an account may not change for months)."""
    pruned = 0
    for account in Account.objects.exclude(revocations={}).only("pk", "revocations", "revocation_expiries"):
        if prunable_revocations(account):
            pruned += prune_account_revocations(account)
    return pruned


@transaction.atomic
def add_signing_key(account: Account) -> AccountSigningKey:
    account = lock_account(account)
    key = _add_signing_key(AccountSigningKey, nj.ACCOUNT, account=account)
    sign_account(account)
    return key


@transaction.atomic
def remove_signing_key(account: Account, public_key: str) -> int:
    """Remove an unscoped signing key; every user it signed is reissued with the newest unscoped key. Returns
    users reissued. A scoped key goes with its scope (`delete_user_scope`), and is replaced by `rotate_signing_keys`:
    its users cannot move to another key without moving to another contract."""
    account = lock_account(account)
    keys = account.signing_keys.all()
    # Only a well-formed key is looked up: the value comes from a URL, and may hold what the database refuses.
    key = keys.filter(public_key=public_key).first() if nj.is_valid_public_key(public_key) else None
    if key is None:
        raise ValidationError({"public_key": "This account has no such signing key."})
    if key.is_scoped:
        raise ValidationError(
            {
                "public_key": f"This key is the scope '{key.scope_role}': it goes with what it scopes (a thing type); "
                "rotate the account's keys to replace it."
            }
        )
    if unscoped_signing_keys(account).count() == 1:
        raise ValidationError({"public_key": "An account keeps at least one signing key; add another first."})
    affected = list(NatsUser.objects.select_for_update().filter(account=account, signing_key=key, active=True))
    key.delete()
    for user in affected:
        issue_user_jwt(user, account=account)
    sign_account(account)
    return len(affected)


def _rekey(key: AccountSigningKey) -> None:
    """Give a scoped key a new key pair in place: its scope, its users and what points to it stay."""
    kp = nj.create_account()
    key.public_key = kp.public_key
    seal(key, "seed", kp.seed)
    key.save(update_fields=["public_key", "seed"])


@transaction.atomic
def rotate_signing_keys(account: Account) -> int:
    """Emergency rotation: a fresh unscoped signing key replaces every other unscoped one, each scoped key gets a
    new key pair with the same scope, and all active users are reissued (each on its own scope, or on the new
    unscoped key)."""
    account = lock_account(account)
    old = list(unscoped_signing_keys(account).values_list("pk", flat=True))
    _add_signing_key(AccountSigningKey, nj.ACCOUNT, account=account)
    AccountSigningKey.objects.filter(pk__in=old).delete()
    for key in AccountSigningKey.objects.filter(account=account, scope_template__isnull=False):
        _rekey(key)
    users = list(
        NatsUser.objects.select_for_update(of=("self",))
        .filter(account=account, active=True)
        .select_related("signing_key")
    )
    for user in users:
        issue_user_jwt(user, account=account)
    sign_account(account)
    return len(users)


# --- Scoped signing keys ---------------------------------------------------------------------------------------


def _scope_key(account: Account, key: AccountSigningKey) -> AccountSigningKey:
    key = AccountSigningKey.objects.filter(pk=key.pk, account_id=account.pk).first()
    if key is None:
        raise ValidationError({"signing_key": "This account has no such signing key."})
    if not key.is_scoped:
        raise ValidationError({"signing_key": "This signing key is not scoped: its users carry their own permissions."})
    return key


@transaction.atomic
def set_user_scope(
    account: Account,
    *,
    role: str,
    template: dict,
    key: AccountSigningKey | None = None,
    description: str = "",
    sign: bool = True,
) -> AccountSigningKey:
    """Create a scoped signing key (`key` None) or change one, and re-sign the account when its claims change.

    `template` is the scope's permissions (`credentials.models.nats.scope_permission_limits`). A changed scope is one
    account push: nats-server drops the key's connected users and they reconnect under the new template, with the
    JWTs they hold (none is reissued or revoked). An unchanged scope re-signs nothing. With `sign=False` the caller
    signs the account once after changing several scopes (`sign_account`).
    """
    account = lock_account(account)
    if key is None:
        kp = nj.create_account()
        key = AccountSigningKey(account=account, public_key=kp.public_key)
        seal(key, "seed", kp.seed)
    else:
        key = _scope_key(account, key)
        if (key.scope_role, key.scope_template, key.scope_description) == (role, template, description):
            return key
    key.scope_role, key.scope_template, key.scope_description = role, template, description
    key.full_clean(exclude=["seed"])
    key.save()
    if sign:
        sign_account(account)
    return key


@transaction.atomic
def delete_user_scope(key: AccountSigningKey) -> None:
    """Delete a scoped key and re-sign its account. Refused while an active user is signed by it: moving them to
    another key would move them to another contract, which is for their owner to decide (a thing changes type).
    Its inactive users lose the key; reactivating one issues it on the unscoped key, with no permissions."""
    account = lock_account(key.account_id)
    key = _scope_key(account, key)
    users = NatsUser.objects.filter(signing_key=key, active=True).order_by("name")
    count = users.count()
    if count:
        names = ", ".join(f"'{name}'" for name in users.values_list("name", flat=True)[:5])
        more = f" and {count - 5} more" if count > 5 else ""
        raise ValidationError(
            f"The scope '{key.scope_role}' is still used by NATS user {names}{more}; move or delete them first."
        )
    key.delete()
    sign_account(account)


def tombstone_account(account: Account) -> AccountTombstone:
    """Called before an account row is deleted (whichever door): remember to delete it from NATS too.

    Idempotent. The account row is locked first, so an update push either claimed the account before (its
    lease is copied: the deletion is pushed again once that push can no longer land) or finds it gone and sends
    nothing (`credentials.push`).
    """
    lease = Account.objects.select_for_update().filter(pk=account.pk).values_list("push_lease_until", flat=True)
    lease = next(iter(lease), None)
    not_before = lease if lease is not None and lease > timezone.now() else None
    tombstone = AccountTombstone.objects.filter(public_key=account.public_key, done_at__isnull=True).first()
    if tombstone is None:
        tombstone = AccountTombstone.objects.create(
            public_key=account.public_key, name=account.name, not_before=not_before
        )
    elif not_before is not None and (tombstone.not_before is None or tombstone.not_before < not_before):
        tombstone.not_before = not_before
        tombstone.save(update_fields=["not_before"])
    else:
        return tombstone
    transaction.on_commit(outbox.push_pending)
    return tombstone


# --- Organizations -------------------------------------------------------------------------------------------


def platform_service_permissions() -> dict[str, list[str]]:
    """What the platform service user may do in its organization's account, and nothing else: create and read
    the digital-twin buckets (bucket info, a watch through an ordered consumer and its flow control, and the
    consumer's info and deletion when the watch stops) and write `twin_desired` (`inventory.twin.store`); and
    tell devices that their config changed (`DEVICE_NOTIFY_SUBJECTS`, `inventory.devices.notify`)."""
    publish = ["$KV.twin_desired.>", DEVICE_NOTIFY_SUBJECTS]
    for bucket in TWIN_BUCKETS:
        stream = f"KV_{bucket}"
        publish += [
            f"$JS.API.STREAM.CREATE.{stream}",
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.FC.{stream}.>",
        ]
    return {"publish_allow": publish, "subscribe_allow": ["_INBOX.>"]}


@transaction.atomic
def ensure_platform_service_user(account: Account, also_publish: Iterable[str] = ()) -> NatsUser:
    """The account's platform service user, allowed at least `platform_service_permissions()` and `also_publish`
    (what sending commands to the organization's things needs, `inventory.dispatch`). Permissions are only ever
    added: a missing one reissues its JWT, and nothing it holds is taken away, so a connection with an earlier JWT
    is never revoked."""
    wanted = platform_service_permissions()
    wanted["publish_allow"] = nj.string_list([*wanted["publish_allow"], *also_publish])
    user = NatsUser.objects.select_for_update().filter(account=account, name=PLATFORM_SERVICE_USER).first()
    if user is None:
        return create_user(
            account=account,
            name=PLATFORM_SERVICE_USER,
            owner_kind=NatsUser.OwnerKind.SERVICE,
            description="Creates the digital-twin KV buckets, watches them for the admin's live view and writes "
            "desired state; tells devices their config changed; sends commands to things.",
            **wanted,
        )
    changes = {}
    for name, subjects in wanted.items():
        held = list(getattr(user, name))
        missing = [s for s in subjects if s not in held]
        if missing:
            changes[name] = [*held, *missing]
    return update_user(user, **changes) if changes else user


@transaction.atomic
def provision_organization(organization) -> Account:
    """A new organization's account (default limits, JetStream on) and its platform service user."""
    account = create_account(organization=organization, name=nj.normalize_account_name(organization.slug))
    ensure_platform_service_user(account)
    return account


@transaction.atomic
def delete_organization_account(organization: Organization) -> AccountTombstone | None:
    """What the organization's deletion does to NATS (`tenancy.services.delete_organization` asks for it before
    deleting the organization, and the account's own deletion follows in the cascade).

    The account is deleted from NATS as a whole (one tombstone: every client of the tenant is disconnected and
    every JWT it signed stops working), so its users are removed with it in one statement: no revocation and no
    re-signing per user, and one audit event summarising them instead of one per user.
    """
    account = Account.objects.select_for_update().filter(organization=organization).first()
    if account is None:
        return None
    users = NatsUser.objects.filter(account=account)
    record_bulk("delete", users)
    # No model signals per user: nothing points to a NATS user, and revoking keys of an account that is deleted
    # from NATS would only re-sign it once per user. The summary event above records the batch.
    users._raw_delete(users.db)
    return tombstone_account(account)


# --- Users -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectivePermissions:
    pub_allow: list[str]
    pub_deny: list[str]
    sub_allow: list[str]
    sub_deny: list[str]
    #: The role of the scoped signing key the permissions come from ("" = the user's own role and lists).
    scope: str = ""


def scope_of(user: NatsUser) -> AccountSigningKey | None:
    """The scoped signing key the user is issued by, or None for a user carrying its own permissions."""
    key = user.signing_key if user.signing_key_id else None
    return key if key is not None and key.is_scoped else None


_TEMPLATE_FUNCTION = re.compile(r"\{\{\s*(name|subject|tag|account-name|account-subject)\(\s*([^)\s]*)\s*\)\s*\}\}")


def expand_scope_subject(subject: str, user: NatsUser, account: Account) -> list[str]:
    """What nats-server makes of a scope template subject for this user at connect: one subject per value of each
    template function (`{{tag(x)}}` has one per `x:` tag); none when a tag the subject needs is missing."""
    tags: dict[str, list[str]] = defaultdict(list)
    for tag in user.tags or []:
        name, _, value = tag.partition(":")
        tags[name].append(value)
    values = {"name": [user.name], "subject": [user.public_key], "account-name": [account.name],
              "account-subject": [account.public_key]}  # fmt: skip
    subjects = [""]
    position = 0
    for match in _TEMPLATE_FUNCTION.finditer(subject):
        function, argument = match.groups()
        found = tags.get(argument, []) if function == "tag" else values[function]
        literal = subject[position : match.start()]
        subjects = [f"{s}{literal}{value}" for s in subjects for value in found]
        position = match.end()
    return [f"{s}{subject[position:]}" for s in subjects]


def _scope_permissions(user: NatsUser, key: AccountSigningKey) -> EffectivePermissions:
    template = key.scope_template or {}
    account = user.account

    def expanded(name: str) -> list[str]:
        return nj.string_list(
            [s for subject in template.get(name, []) for s in expand_scope_subject(subject, user, account)]
        )

    pub_allow, sub_allow = expanded("pub_allow"), expanded("sub_allow")
    pub_deny = expanded("pub_deny") if pub_allow else [EVERYTHING]
    sub_deny = expanded("sub_deny") if sub_allow else [EVERYTHING]
    return EffectivePermissions(pub_allow, pub_deny, sub_allow, sub_deny, scope=key.scope_role or key.public_key)


def effective_permissions(user: NatsUser) -> EffectivePermissions:
    """Role lists plus the user's own. An empty allow list means nothing is allowed: NATS would read an empty
    list as "everything", so it becomes a deny of `>`. A user of a scoped key has its scope's template, expanded
    for its name and tags as nats-server expands it at connect."""
    key = scope_of(user)
    if key is not None:
        return _scope_permissions(user, key)
    role = user.role

    def merged(name: str) -> list[str]:
        return nj.string_list([*(getattr(role, name) if role else []), *getattr(user, name)])

    pub_allow, sub_allow = merged("publish_allow"), merged("subscribe_allow")
    pub_deny = merged("publish_deny") if pub_allow else [EVERYTHING]
    sub_deny = merged("subscribe_deny") if sub_allow else [EVERYTHING]
    return EffectivePermissions(pub_allow, pub_deny, sub_allow, sub_deny)


def user_claims(user: NatsUser, public_key: str, account: Account, *, expires: int | None = None) -> nj.UserClaims:
    """The claims of the user's JWT; `expires` defaults to the user's own end date (0 = none)."""
    if expires is None:
        expires = int(user.expires_at.timestamp()) if user.expires_at else 0
    if scope_of(user) is not None:
        return nj.UserClaims(
            subject=public_key,
            name=user.name,
            expires=expires,
            issuer_account=account.public_key,
            scoped=True,
            tags=user.tags,
        )
    role = user.role
    perms = effective_permissions(user)
    resp = None
    if role is not None and role.allow_responses:
        resp = nj.ResponsePermission(max_msgs=role.response_max, ttl_seconds=role.response_ttl)
    return nj.UserClaims(
        subject=public_key,
        name=user.name,
        expires=expires,
        pub_allow=perms.pub_allow,
        pub_deny=perms.pub_deny,
        sub_allow=perms.sub_allow,
        sub_deny=perms.sub_deny,
        resp=resp,
        subs=_limit(role.max_subscriptions) if role else -1,
        data=_limit(role.max_data) if role else -1,
        payload=_limit(role.max_payload) if role else -1,
        bearer_token=user.bearer,
        issuer_account=account.public_key,
        tags=user.tags,
    )


def jwt_lifetime(owner_kind: str) -> int:
    """Seconds a new JWT of a user of this owner kind is valid (`NATS_USER_JWT_LIFETIME`; 0 = no expiry)."""
    kind = str(owner_kind)
    value = settings.NATS_USER_JWT_LIFETIME.get(kind)
    if not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            f"NATS_USER_JWT_LIFETIME[{kind!r}] must be a number of seconds (0 = no expiry), not {value!r}."
        )
    return value


def jwt_expiry(user: NatsUser, iat: int) -> int:
    """When a JWT issued at `iat` expires: its owner kind's lifetime, cut short by the user's end date."""
    lifetime = jwt_lifetime(user.owner_kind)
    ends = [iat + lifetime] if lifetime else []
    if user.expires_at:
        ends.append(int(user.expires_at.timestamp()))
    return min(ends, default=0)


def _issuing_key(user: NatsUser, account: Account) -> AccountSigningKey:
    """A user of a scoped key stays on it (its contract); any other user gets the newest unscoped key."""
    if user.signing_key_id:
        key = AccountSigningKey.objects.filter(pk=user.signing_key_id, account_id=account.pk).first()
        if key is not None and key.is_scoped:
            return key
    return newest_signing_key(unscoped_signing_keys(account))


def issue_user_jwt(user: NatsUser, *, account: Account | None = None, save: bool = True) -> NatsUser:
    """Sign the user's JWT: with its scoped key (no permissions, its tags), or else with the account's newest
    unscoped key. `iat` lands after any revocation of the user's key, so a reactivated user's new JWT passes the
    cutoff that still blocks the old one."""
    # Read the account afresh: `user.account` may predate a revocation made through another instance.
    account = account or Account.objects.get(pk=user.account_id)
    key = _issuing_key(user, account)
    user.signing_key = key
    cutoff = int((account.revocations or {}).get(user.public_key, 0))
    iat = max(now(), cutoff + 1)
    expires = jwt_expiry(user, iat)
    user.jwt = nj.encode(user_claims(user, user.public_key, account, expires=expires), keypair_of(key), iat=iat)
    user.jwt_iat, user.jwt_exp = iat, expires
    # What a revocation of this key must outlast (revoke_keys); None once a JWT that never expires is out.
    if not expires:
        user.key_jwts_expire_by = None
    elif user.key_jwts_expire_by is not None:
        user.key_jwts_expire_by = max(user.key_jwts_expire_by, expires)
    if save:
        user.save()
    return user


def _lock_user(user: NatsUser) -> Account:
    """Lock the user's account, then the user row (always in this order, like the account-wide actions), and
    reload `user` in place: a change decides on the current row, never on a stale copy (a deactivation that
    committed meanwhile stays in force). Returns the locked account."""
    account = lock_account(user.account_id)
    NatsUser.objects.select_for_update().filter(pk=user.pk).exists()
    user.refresh_from_db()
    return account


def _permission_narrowed(old: dict, new: dict) -> bool:
    old_deny, new_deny = set(old.get("deny", [])), set(new.get("deny", []))
    if EVERYTHING in old_deny:
        return False  # the old JWT granted nothing here
    if new_deny - old_deny:
        return True
    old_allow, new_allow = old.get("allow"), new.get("allow")
    if new_allow is None:
        return False  # no allow list: everything but the deny list
    return old_allow is None or bool(set(old_allow) - set(new_allow))


def _limit_value(value) -> float:
    value = int(value or 0)
    return float("inf") if value < 0 else value


#: Keys of a user JWT's `nats` section compared one by one by `grants_less`.
_COMPARED_USER_CLAIMS = {"pub", "sub", "resp", "subs", "data", "payload", "bearer_token", "type", "version"}


def grants_less(old_jwt: str, new: nj.UserClaims) -> bool:
    """Whether a JWT with the `new` claims grants anything less than `old_jwt` (fewer subjects, a new deny,
    lower limits, an expiry, no longer a bearer token). A JWT is valid until it expires or its key is revoked,
    so reissuing alone would leave the holder of the old one what was just taken away."""
    if not old_jwt:
        return False
    previous = nj.decode(old_jwt, verify=False)
    old, fresh = previous.get("nats") or {}, new.nats_json()
    old_exp, new_exp = int(previous.get("exp") or 0), int(new.expires or 0)
    if new_exp and (not old_exp or new_exp < old_exp):
        return True
    if old.get("bearer_token") and not fresh.get("bearer_token"):
        return True
    if any(_permission_narrowed(old.get(d) or {}, fresh.get(d) or {}) for d in ("pub", "sub")):
        return True
    if old.get("resp") is not None and old.get("resp") != fresh.get("resp"):
        return True
    if any(_limit_value(fresh.get(n)) < _limit_value(old.get(n)) for n in ("subs", "data", "payload")):
        return True
    other = (set(old) | set(fresh)) - _COMPARED_USER_CLAIMS - {"issuer_account"}
    return any(old.get(name) != fresh.get(name) for name in other)


def _new_user_key(user: NatsUser) -> None:
    kp = nj.create_user()
    user.public_key = kp.public_key
    user.key_jwts_expire_by = 0  # no JWT issued for this key yet
    seal(user, "seed", kp.seed)


@transaction.atomic
def create_user(*, account: Account, name: str, device_public_key: str | None = None, **fields) -> NatsUser:
    """A user with a new key pair generated here, or with `device_public_key`: a key its device generated and
    keeps (no seed here; `.creds` cannot be downloaded, the device builds them from its JWT)."""
    user = NatsUser(account=account, organization=account.organization, name=name, **fields)
    if device_public_key:
        check_device_key(account, device_public_key)
        user.public_key, user.key_jwts_expire_by = device_public_key, 0
    else:
        _new_user_key(user)
    user.full_clean(exclude=["seed", "jwt", "signing_key"])
    return issue_user_jwt(user)


def mint_scoped_users(
    account: Account, key: AccountSigningKey, users: Iterable[tuple[str, Sequence[str], str]]
) -> list[NatsUser]:
    """Unsaved users of the scoped `key`, one per `(name, tags, owner_kind)`, each with a new key pair, a primary
    key reserved for it, its seed sealed for that row and a JWT issued now: the fast path of a bulk import, inserted
    by `insert_minted_users` in the same transaction. Tags are checked here; names by the database's unique
    constraint at insert. Nothing just signed is verified again."""
    account = Account.objects.get(pk=account.pk)
    key = _scope_key(account, key)
    signer = keypair_of(key)
    iat = now()
    users = list(users)
    pks = reserve_primary_keys(NatsUser, len(users))
    minted = []
    for (name, tags, owner_kind), pk in zip(users, pks, strict=True):
        tags = list(tags)
        validate_tags(tags)
        if not name:
            raise ValidationError({"name": "A NATS user needs a name."})
        lifetime = jwt_lifetime(owner_kind)
        expires = iat + lifetime if lifetime else 0
        kp = nj.create_user()
        claims = nj.UserClaims(
            subject=kp.public_key,
            name=name,
            expires=expires,
            issuer_account=account.public_key,
            scoped=True,
            tags=tags,
        )
        user = NatsUser(
            pk=pk,
            organization_id=account.organization_id,
            account=account,
            name=name,
            owner_kind=owner_kind,
            tags=tags,
            public_key=kp.public_key,
            signing_key=key,
            jwt=nj.encode(claims, signer, iat=iat),
            jwt_iat=iat,
            jwt_exp=expires,
            key_jwts_expire_by=expires or None,
        )
        seal(user, "seed", kp.seed)
        minted.append(user)
    return minted


@transaction.atomic
def insert_minted_users(users: list[NatsUser], batch_size: int = 1000) -> list[NatsUser]:
    """Insert what `mint_scoped_users` made (seeds already sealed for their rows). No account change: a new user of
    a scoped key needs no push. The caller records the audit event."""
    insert_rows(NatsUser, users, batch_size=batch_size)
    return users


@transaction.atomic
def update_user(user: NatsUser, **changes) -> NatsUser:
    """Change a user and reissue its JWT. If the new JWT grants less, the earlier JWTs are revoked; if a
    person's user moves to another membership (or none), it gets a new key pair and the old key is revoked:
    the previous person still holds its seed.

    A user of a scoped key may change `signing_key` (another scope of its account) and `tags`: either makes its
    earlier JWTs grant other subjects (another contract, another thing or location in the template), so they are
    revoked; a tag change counts as granting less."""
    account = _lock_user(user)
    old_jwt, old_key, old_membership = user.jwt, user.public_key, user.membership_id
    old_scope = scope_of(user)
    for name, value in changes.items():
        setattr(user, name, value)
    user.full_clean(exclude=["seed", "jwt", "signing_key"])
    if old_membership is not None and user.membership_id != old_membership:
        account = revoke_keys(account, [old_key])
        _new_user_key(user)
        if not user.active:
            user.jwt, user.jwt_iat, user.signing_key = "", 0, None
            user.save()
            return user
        return issue_user_jwt(user, account=account)
    if not user.active:
        user.save()
        return user
    if _earlier_jwts_grant_more(user, account, old_jwt, old_scope):
        account = revoke_keys(account, [user.public_key])
    return issue_user_jwt(user, account=account)


def _earlier_jwts_grant_more(user: NatsUser, account: Account, old_jwt: str, old_scope) -> bool:
    # Another scope is another contract: the JWT of the old one still grants it until revoked.
    if old_scope != scope_of(user):
        return True
    return grants_less(old_jwt, user_claims(user, user.public_key, account))


@transaction.atomic
def update_users(updates: Iterable[tuple[NatsUser, dict]]) -> int:
    """`update_user` for many users at once (e.g. the things of a type whose code changed): per account, one
    revocation for every key whose earlier JWTs grant what the new ones do not (one re-sign), then every active
    user reissued. A move to another membership is for `update_user`. Returns how many users were reissued."""
    by_account: dict[int, list[tuple[NatsUser, dict]]] = defaultdict(list)
    for user, changes in updates:
        if "membership" in changes:
            raise ValueError("Move a user to another membership with update_user.")
        by_account[user.account_id].append((user, changes))
    reissued = 0
    for account_id in sorted(by_account):
        account = lock_account(account_id)
        batch = by_account[account_id]
        rows = NatsUser.objects.select_for_update(of=("self",)).select_related("signing_key")
        current = rows.in_bulk([user.pk for user, _ in batch])
        narrowed, active = [], []
        for user, changes in batch:
            user = current[user.pk]
            old_jwt, old_scope = user.jwt, scope_of(user)
            for name, value in changes.items():
                setattr(user, name, value)
            user.full_clean(exclude=["seed", "jwt", "signing_key"])
            if not user.active:
                user.save()
                continue
            if _earlier_jwts_grant_more(user, account, old_jwt, old_scope):
                narrowed.append(user.public_key)
            active.append(user)
        if narrowed:
            account = revoke_keys(account, narrowed)
        for user in active:
            issue_user_jwt(user, account=account)
        reissued += len(active)
    return reissued


@transaction.atomic
def regenerate_user(user: NatsUser) -> NatsUser:
    """A new JWT for the same key (the old JWT stays valid until it expires)."""
    account = _lock_user(user)
    if not user.active:
        raise ValidationError({"active": "Reactivate the user before issuing new credentials."})
    return issue_user_jwt(user, account=account)


def check_device_key(account: Account, public_key: str, user: NatsUser | None = None) -> None:
    """A key a device brings must be a user public key nobody else holds and that was never revoked here (a revoked
    key's cutoff would let a JWT issued now through: the key's earlier holder could use it again)."""
    if not nj.is_valid_public_key(public_key, nj.USER):
        raise ValidationError({"public_key": "Enter a NATS user public key (56 characters, U…)."})
    holder = NatsUser.objects.filter(public_key=public_key).exclude(pk=getattr(user, "pk", None)).exists()
    if holder or public_key in (account.revocations or {}):
        raise ValidationError({"public_key": "This key was already used; generate a new key pair on the device."})


@transaction.atomic
def adopt_device_key(user: NatsUser, public_key: str) -> NatsUser:
    """The user's key becomes the one its device generated (enrollment, a replaced device): the previous key is
    revoked on the account in this transaction (the seed held here, or the replaced device's key), the seed here
    is wiped, and a JWT is issued for the device's key. A deactivated user comes back with it."""
    account = _lock_user(user)
    if public_key == user.public_key and not user.seed:
        return issue_user_jwt(user, account=account)
    check_device_key(account, public_key, user)
    if user.jwt:
        account = revoke_keys(account, [user.public_key])
    user.public_key, user.key_jwts_expire_by = public_key, 0
    user.seed = ""
    user.active = True
    return issue_user_jwt(user, account=account)


@transaction.atomic
def revoke_user(user: NatsUser) -> NatsUser:
    """Credentials leaked, the user stays: the old key is revoked and a new key pair is issued."""
    _lock_user(user)
    if not user.active:
        raise ValidationError({"active": "Reactivate the user before issuing new credentials."})
    account = revoke_keys(user.account_id, [user.public_key])
    _new_user_key(user)
    return issue_user_jwt(user, account=account)


@transaction.atomic
def deactivate_user(user: NatsUser) -> NatsUser:
    """Revoke the current key and issue nothing; connected clients are dropped once the account is pushed."""
    _lock_user(user)
    if not user.active:
        return user
    revoke_keys(user.account_id, [user.public_key])
    user.active = False
    user.save(update_fields=["active", "updated"])
    return user


@transaction.atomic
def deactivate_person_users(person) -> int:
    """Deactivate every active NATS user of `person`'s memberships (a person who can no longer sign in): one
    re-sign per account. Returns how many were still active."""
    return deactivate_users(NatsUser.objects.filter(membership__user=person))


@transaction.atomic
def reactivate_user(user: NatsUser) -> NatsUser:
    """Back with a new key pair: the old key stays revoked, so `.creds` handed out before the deactivation
    never work again (whoever held them is often why the user was deactivated). A key held by its device
    (no seed here) cannot be replaced from here: the device must enroll a new one."""
    account = _lock_user(user)
    if user.active:
        return user
    if not user.seed:
        raise ValidationError({"active": "This user's key is held by its device; the device must enroll a new key."})
    if user.jwt and int((account.revocations or {}).get(user.public_key, -1)) < user.jwt_iat:
        account = revoke_keys(account, [user.public_key])  # deactivated without going through deactivate_user
    user.active = True
    _new_user_key(user)
    return issue_user_jwt(user, account=account)


def revoke_deleted_user(user: NatsUser) -> None:
    """Called before a user row is deleted (whichever door): its key is revoked on its account."""
    if Account.objects.filter(pk=user.account_id).exists():
        revoke_keys(user.account_id, [user.public_key])


@transaction.atomic
def reissue_role_users(role: NatsRole) -> int:
    """Reissue the JWTs of the role's active users; the earlier JWTs of those whose grants shrank are revoked
    (one account change for all of them)."""
    count = 0
    account_ids = NatsUser.objects.filter(role=role, active=True).values_list("account_id", flat=True)
    for account_id in sorted(set(account_ids)):
        account = lock_account(account_id)
        users = list(NatsUser.objects.select_for_update().filter(role=role, active=True, account_id=account_id))
        for user in users:
            user.role = role
        narrowed = [u.public_key for u in users if grants_less(u.jwt, user_claims(u, u.public_key, account))]
        if narrowed:
            account = revoke_keys(account, narrowed)
        for user in users:
            issue_user_jwt(user, account=account)
        count += len(users)
    return count


@transaction.atomic
def user_creds(user: NatsUser) -> str:
    """The `.creds` text: the seed and a JWT issued now, valid for a full lifetime (earlier JWTs of the key
    stay valid until they expire). Callers record the read in the audit log."""
    account = _lock_user(user)
    if not user.active:
        raise ValidationError({"active": "This user is deactivated; its credentials are revoked."})
    seed = reveal(user, "seed")
    if not seed:
        raise ValidationError({"seed": "This user's key was generated on its device; there is no seed here."})
    issue_user_jwt(user, account=account)
    return nj.format_user_creds(user.jwt, seed, verify=False)


def renewal_due(user: NatsUser, at: int) -> bool:
    """Whether the user's stored JWT is in the last `NATS_USER_JWT_RENEW_FRACTION` of its lifetime and a
    JWT issued now would last longer (not when the user's own end date is what cuts it)."""
    lifetime = jwt_lifetime(user.owner_kind)
    if not user.jwt_exp or not lifetime:
        return False
    return user.jwt_exp - at <= lifetime * settings.NATS_USER_JWT_RENEW_FRACTION and jwt_expiry(user, at) > user.jwt_exp


@transaction.atomic
def renew_user_jwt(user: NatsUser) -> bool:
    """Reissue the user's JWT if its renewal is due; returns whether it was."""
    account = _lock_user(user)
    if not user.active or not user.seed or not renewal_due(user, now()):
        return False
    issue_user_jwt(user, account=account)
    return True


def renew_user_jwts() -> int:
    """The periodic pass: renew the JWT of every active user whose seed is held here and whose renewal is due.
    (A device holding its own key fetches new `.creds` itself.) Returns how many were renewed."""
    at = now()
    renewed = 0
    for kind in NatsUser.OwnerKind.values:
        lifetime = jwt_lifetime(kind)
        if not lifetime:
            continue
        horizon = at + int(lifetime * settings.NATS_USER_JWT_RENEW_FRACTION)
        due = NatsUser.objects.filter(owner_kind=kind, active=True, jwt_exp__gt=0, jwt_exp__lte=horizon)
        for user in due.exclude(seed="").order_by("pk"):
            renewed += renew_user_jwt(user)
    return renewed


# --- Bootstrap -------------------------------------------------------------------------------------------------


@dataclass
class BootstrapResult:
    operator_created: bool = False
    system_account_created: bool = False
    system_user_created: bool = False
    operator_resigned: bool = False


@transaction.atomic
def bootstrap(operator_name: str | None = None) -> BootstrapResult:
    """Operator, system account `SYS` and system user `sys`; running it again changes nothing."""
    result = BootstrapResult()
    operator = Operator.objects.select_for_update().filter(pk=1).first()
    if operator is None:
        kp = nj.create_operator()
        operator = Operator(pk=1, name=operator_name or settings.NATS_OPERATOR_NAME, public_key=kp.public_key)
        seal(operator, "seed", kp.seed)
        operator.save()
        _add_signing_key(OperatorSigningKey, nj.OPERATOR, operator=operator)
        result.operator_created = True
    sys_account = Account.objects.filter(is_system=True).first()
    if sys_account is None:
        sys_account = create_account(name=SYSTEM_ACCOUNT_NAME, is_system=True)
        result.system_account_created = True
    if not sys_account.users.filter(name=SYSTEM_USER_NAME).exists():
        create_user(
            account=sys_account,
            name=SYSTEM_USER_NAME,
            owner_kind=NatsUser.OwnerKind.SERVICE,
            description="Platform system user (management requests).",
            publish_allow=["$SYS.>", ">"],
            subscribe_allow=["$SYS.>", ">"],
        )
        result.system_user_created = True
    result.operator_resigned = sign_operator(operator)
    return result


def system_push_credentials(ttl: int = 120) -> tuple[str, str]:
    """A short-lived system-account user for one push run: (jwt, seed). Nothing is stored."""
    account = system_account()
    key = newest_signing_key(unscoped_signing_keys(account))
    claims = nj.UserClaims(
        name="stoneage-pusher",
        expires=now() + ttl,
        pub_allow=["$SYS.REQ.>"],
        sub_allow=["_INBOX.>"],
        issuer_account=account.public_key,
    )
    minted = nj.mint_user_credentials(claims, keypair_of(key))
    return minted.jwt, minted.seed


def delete_claim_jwt(account_public_key: str) -> str:
    operator = get_operator()
    claims = nj.account_delete_claims(operator.public_key, [account_public_key])
    return nj.encode(claims, keypair_of(operator))


# --- Exports and imports ---------------------------------------------------------------------------------------
# Used by the API and the admin: an export or import is part of its account's JWT, so every change re-signs
# the account in the same transaction.


@transaction.atomic
def save_account_link(link: AccountExport | AccountImport) -> AccountExport | AccountImport:
    """Validate and save an export or import, then re-sign its account."""
    account = lock_account(link.account_id)
    link.full_clean()
    link.save()
    sign_account(account)
    return link


@transaction.atomic
def delete_account_link(link: AccountExport | AccountImport) -> None:
    account = lock_account(link.account_id)
    link.delete()
    sign_account(account)


# --- Many users at once ----------------------------------------------------------------------------------------


@transaction.atomic
def _deactivate_in_account(account_id: int, user_ids: list[int]) -> int:
    account = lock_account(account_id)
    rows = list(
        NatsUser.objects.select_for_update()
        .filter(pk__in=user_ids, account_id=account_id, active=True)
        .values_list("pk", "public_key")
    )
    if not rows:
        return 0
    users = NatsUser.objects.filter(pk__in=[pk for pk, _ in rows])
    record_bulk("update", users, changes={"active": False})
    users.update(active=False, updated=timezone.now())
    revoke_keys(account, [key for _, key in rows])
    return len(rows)


def deactivate_users(users: QuerySet[NatsUser]) -> int:
    """Deactivate many users at once: per account, their keys are revoked together (one re-sign, one push) and
    one audit event summarises them. Returns how many were still active."""
    by_account: dict[int, list[int]] = defaultdict(list)
    for account_id, pk in users.filter(active=True).values_list("account_id", "pk"):
        by_account[account_id].append(pk)
    return sum(_deactivate_in_account(account_id, by_account[account_id]) for account_id in sorted(by_account))


# --- Roles -----------------------------------------------------------------------------------------------------

_role_action: ContextVar[bool] = ContextVar("credentials_nats_role_action", default=False)


def in_role_action() -> bool:
    """Whether the role being saved is saved by `create_role` / `update_role`: the post_save receiver, the safety
    net for saves made outside these actions, then stands aside."""
    return _role_action.get()


@contextmanager
def _role_action_save() -> Iterator[None]:
    token = _role_action.set(True)
    try:
        yield
    finally:
        _role_action.reset(token)


def role_jwt_changed(before: dict, role: NatsRole) -> bool:
    """Whether `role` differs from `before` (values of `NatsRole.JWT_FIELDS`) in what its users' JWTs carry."""
    return any(before.get(name) != getattr(role, name) for name in NatsRole.JWT_FIELDS)


@transaction.atomic
def create_role(*, organization: Organization, **fields) -> NatsRole:
    role = NatsRole(organization=organization, **fields)
    role.full_clean()
    with _role_action_save():
        role.save()
    return role


@transaction.atomic
def update_role(role: NatsRole, **changes) -> NatsRole:
    """Change a role. Its active users' JWTs are reissued only when what they carry changed (subjects, responses,
    limits), never for a new name or description; earlier JWTs are revoked when the role now grants less."""
    role = NatsRole.objects.select_for_update().get(pk=role.pk)
    before = {name: getattr(role, name) for name in NatsRole.JWT_FIELDS}
    for name, value in changes.items():
        setattr(role, name, value)
    role.full_clean()
    with _role_action_save():
        role.save()
    if role_jwt_changed(before, role):
        reissue_role_users(role)
    return role


@transaction.atomic
def delete_role(role: NatsRole) -> None:
    """Delete a role no user holds (deleting its organization takes it with its users)."""
    holders = role.users.order_by("name")
    count = holders.count()
    if count:
        names = ", ".join(f"'{name}'" for name in holders.values_list("name", flat=True)[:5])
        more = f" and {count - 5} more" if count > 5 else ""
        raise ValidationError(
            f"This role cannot be deleted while it is still in use by NATS user {names}{more}. "
            "Give them another role first."
        )
    role.delete()


# --- Reconciliation --------------------------------------------------------------------------------------------


def stranded_users() -> QuerySet[NatsUser]:
    """Active NATS users of people who can no longer sign in: what a bulk `User.objects.update(is_active=False)`
    leaves behind, since it sends no signal."""
    return NatsUser.objects.filter(active=True, membership__user__is_active=False)


def drifted_accounts() -> QuerySet[Account]:
    """Accounts whose NATS state no longer follows their organization and suspension: what a bulk
    `Organization.objects.update(active=...)` leaves behind. Users of an inactive organization stop working with
    its account (deleted from NATS) and work again when it is reactivated, so they are never deactivated here."""
    off = Q(suspended=True) | Q(organization__active=False)
    return Account.objects.filter(is_system=False).filter((Q(active=True) & off) | (Q(active=False) & ~off))


@dataclass(frozen=True)
class Reconciliation:
    users_deactivated: int
    accounts_followed: int


def reconcile_switched_off() -> Reconciliation:
    """Catch up with what bypassed the signals: deactivate the NATS users of deactivated people (one re-sign
    per account) and bring accounts in line with their organization's state."""
    users = deactivate_users(stranded_users())
    organizations = Organization.objects.filter(nats_account__in=drifted_accounts())
    accounts = sum(follow_organization(organization) for organization in organizations)
    return Reconciliation(users_deactivated=users, accounts_followed=accounts)
