"""Role × admin page matrix: every registered admin model, as every role, an outsider (owner of another
organization), anonymous and a platform operator. Nobody in the world has Django's staff flag except the
operator; members sign in with their memberships alone.

For each model and caller: the changelist, the add page, the change page of an object of the caller's
organization and of another organization's object, and the delete page. A page a caller must not see answers
403, or 302 to the admin index ("does not exist") for a row outside their organizations, or 302 to the
sign-in page for anonymous callers; a read-only page has no Save button; a refused POST changes nothing.

`POLICY` is this file's own statement of who may do what: a model registered in the admin without a row here
fails the test, so every new admin page is put into the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from credentials.models import AccountExport, AccountImport, AccountTombstone, Operator, RevokedCertificate
from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory.devices.gateway_auth import issue_token as issue_device_token
from inventory.services import edge as edge_svc
from inventory.services import enrollment
from tenancy import services
from tenancy.models import Membership
from tenancy.roles import ALL_ROLES, AUDIT_READERS, EDITORS, MANAGERS, Role
from tests.credentials.nats_support import account_of, make_nats_user, make_role
from tests.credentials.nebula_support import ca_of, make_host, make_network
from tests.inventory.admin_support import inventory_of
from tests.support.authz import ANONYMOUS, OUTSIDER, SUPERUSER, caller
from tests.support.world import build_world, make_user

pytestmark = pytest.mark.django_db

SU = frozenset({SUPERUSER})
NOBODY = frozenset()
CALLERS = [*sorted(ALL_ROLES), OUTSIDER, ANONYMOUS, SUPERUSER]


@dataclass(frozen=True)
class Policy:
    view: frozenset[str]
    add: frozenset[str]
    change: frozenset[str]
    delete: frozenset[str]
    #: Everyone who may use the admin reaches the changelist (it lists only their own rows).
    open_changelist: bool = False


IDENTITY = Policy(view=MANAGERS | {Role.AUDITOR} | SU, add=MANAGERS | SU, change=MANAGERS | SU, delete=MANAGERS | SU)
PLATFORM_READ_ONLY = Policy(view=SU, add=NOBODY, change=NOBODY, delete=NOBODY)
#: Inventory: every member reads; contracts (types, schemas, location types) are the managers'.
CONTRACT = Policy(view=ALL_ROLES | SU, add=MANAGERS | SU, change=MANAGERS | SU, delete=MANAGERS | SU)
#: Inventory members edit (locations, floorplans, things); owners and admins delete.
INVENTORY = Policy(view=ALL_ROLES | SU, add=EDITORS | SU, change=EDITORS | SU, delete=MANAGERS | SU)

POLICY: dict[str, Policy] = {
    "audit.auditevent": Policy(view=AUDIT_READERS | SU, add=NOBODY, change=NOBODY, delete=NOBODY),
    "tenancy.organization": Policy(view=ALL_ROLES | SU, add=SU, change=SU, delete=SU),
    "tenancy.membership": Policy(view=ALL_ROLES | SU, add=MANAGERS | SU, change=MANAGERS | SU, delete=MANAGERS | SU),
    "tenancy.invitation": Policy(view=MANAGERS | SU, add=MANAGERS | SU, change=SU, delete=SU),
    "tenancy.apitoken": Policy(view=MANAGERS | SU, add=NOBODY, change=SU, delete=SU, open_changelist=True),
    "auth.user": Policy(view=SU, add=SU, change=SU, delete=NOBODY),
    "auth.group": Policy(view=SU, add=SU, change=SU, delete=SU),
    "credentials.operator": PLATFORM_READ_ONLY,
    "credentials.accounttombstone": PLATFORM_READ_ONLY,
    "credentials.account": Policy(view=ALL_ROLES | SU, add=SU, change=SU, delete=NOBODY),
    "credentials.natsrole": IDENTITY,
    "credentials.natsuser": IDENTITY,
    "credentials.accountexport": IDENTITY,
    "credentials.accountimport": IDENTITY,
    "credentials.certificateauthority": Policy(view=ALL_ROLES | SU, add=NOBODY, change=SU, delete=NOBODY),
    "credentials.network": Policy(view=ALL_ROLES | SU, add=MANAGERS | SU, change=MANAGERS | SU, delete=MANAGERS | SU),
    "credentials.host": IDENTITY,
    "credentials.revokedcertificate": Policy(view=IDENTITY.view, add=NOBODY, change=NOBODY, delete=NOBODY),
    "inventory.messageschema": CONTRACT,
    "inventory.thingtype": CONTRACT,
    "inventory.locationtype": CONTRACT,
    "inventory.location": INVENTORY,
    "inventory.floorplan": INVENTORY,
    "inventory.thing": INVENTORY,
    "inventory.enrollmenttoken": Policy(view=IDENTITY.view, add=NOBODY, change=NOBODY, delete=NOBODY),
    "inventory.devicetoken": Policy(view=IDENTITY.view, add=NOBODY, change=NOBODY, delete=NOBODY),
    "inventory.leafnode": CONTRACT,
}


def _in_org(org, world):
    """{model label: an object of `org`} for every org-scoped admin model."""
    extra = make_user(f"extra-{org.slug}")
    membership = Membership.objects.create(user=extra, organization=org, role=Role.VIEWER)
    host = make_host(org)
    revoked = make_host(host.network)
    nebula_svc.deactivate_host(revoked)
    owner = Membership.objects.filter(organization=org, role=Role.OWNER).first().user
    invitation, _ = services.invite(organization=org, email=f"new-{org.slug}@example.com", acting_user=owner)
    token, _ = services.create_api_token(user=extra, organization=org, name="ci")
    inventory = inventory_of(org)
    return {
        "audit.auditevent": AuditEvent.objects.filter(organization=org).first(),
        "tenancy.organization": org,
        "tenancy.membership": membership,
        "tenancy.invitation": invitation,
        "tenancy.apitoken": token,
        "credentials.account": account_of(org),
        "credentials.natsrole": make_role(org),
        "credentials.natsuser": make_nats_user(org),
        "credentials.accountexport": nats_svc.save_account_link(
            AccountExport(organization=org, account=account_of(org), name="e", subject=f"{org.slug}.>")
        ),
        "credentials.accountimport": nats_svc.save_account_link(
            AccountImport(
                organization=org,
                account=account_of(org),
                name="i",
                subject="$SYS.ACCOUNT.*.>",
                exporter=nats_svc.system_account(),
            )
        ),
        "credentials.certificateauthority": ca_of(org),
        "credentials.network": make_network(org, cidr="10.77.0.0/24"),
        "credentials.host": host,
        "credentials.revokedcertificate": RevokedCertificate.objects.get(fingerprint=revoked.fingerprint),
        **inventory,
        "inventory.enrollmenttoken": enrollment.issue_token(inventory["inventory.thing"])[0],
        "inventory.devicetoken": issue_device_token(inventory["inventory.thing"])[0],
        "inventory.leafnode": edge_svc.create_leaf_node(organization=org, code="site-a"),
    }


@pytest.fixture
def matrix_world(db):
    nats_svc.bootstrap()
    world = build_world()
    own, other = _in_org(world.org, world), _in_org(world.other_org, world)
    platform = {
        "auth.user": world.user(Role.VIEWER),
        "auth.group": Group.objects.create(name="operators"),
        "credentials.operator": Operator.objects.get(),
        "credentials.accounttombstone": AccountTombstone.objects.create(name="gone", public_key="A" * 56),
    }
    # Platform rows have no organization: the "other" object is the same row.
    own.update(platform)
    other.update({**platform, "auth.user": world.outsider})
    assert all(own.values()) and all(other.values()), "every model needs its objects"
    return world, own, other


def _url(model, name: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


def _client(world, who: str) -> Client:
    client = Client()
    user = caller(world, who)
    if user is not None:
        assert not user.is_staff or user.is_superuser, "members must need no staff flag"
        client.force_login(user)
    return client


def _rights(who: str) -> str:
    """The role whose rights `who` has in their own organization (the outsider owns globex)."""
    return Role.OWNER if who == OUTSIDER else who


def _refused(response, who: str) -> str | None:
    """None when `response` refuses the page as it should; else what is wrong."""
    if who == ANONYMOUS:
        if response.status_code == 302 and response["Location"].startswith(reverse("admin:login")):
            return None
        return f"{response.status_code}, expected a redirect to the sign-in page"
    if response.status_code in (403, 404):
        return None
    if response.status_code == 302 and response["Location"] == reverse("admin:index"):
        return None  # "does not exist": a row outside the caller's organizations
    return f"{response.status_code} {response.get('Location', '')}, expected a refusal"


def _problem(response, who: str, allowed: bool, save_button: bool | None, ok: tuple[int, ...]) -> str | None:
    if not allowed:
        return _refused(response, who)
    if response.status_code not in ok:
        return f"{response.status_code}, expected {ok}"
    if save_button is not None:
        shown = 'name="_save"' in response.content.decode()
        if shown != save_button:
            return f"Save button {'shown' if shown else 'missing'}"
    return None


def _object_tools(html: str) -> str:
    """The changelist's own buttons (the navigation sidebar has Add links of its own)."""
    start = html.find('<ul class="object-tools">')
    return "" if start < 0 else html[start : html.index("</ul>", start)]


def _label(model) -> str:
    return model._meta.label_lower


def test_every_registered_admin_model_is_in_the_matrix():
    registered = {_label(model) for model in admin.site._registry}
    assert registered - POLICY.keys() == set(), "add these admin pages to POLICY"
    assert POLICY.keys() - registered == set()


def _unchanged(model, pk, before) -> bool:
    return model._default_manager.filter(pk=pk).values().first() == before


def test_role_by_admin_page_matrix(matrix_world):
    world, acme, globex = matrix_world
    failures: list[str] = []
    for who in CALLERS:
        client = _client(world, who)
        role = _rights(who)
        home, away = (globex, acme) if who == OUTSIDER else (acme, globex)
        for model in admin.site._registry:
            label = _label(model)
            policy = POLICY[label]
            mine, theirs = home[label], away[label]
            may = {name: role in getattr(policy, name) for name in ("view", "add", "change", "delete")}

            def check(what, response, allowed, save_button=None, ok=(200,), who=who, label=label) -> None:
                problem = _problem(response, who, allowed, save_button, ok)
                if problem:
                    failures.append(f"{who} {label} {what}: {problem}")

            # Changelist: the caller's own row listed only when they may view it, the other organization's never.
            response = client.get(_url(model, "changelist"))
            check("changelist", response, may["view"] or (policy.open_changelist and who != ANONYMOUS))
            if response.status_code == 200:
                html = response.content.decode()
                if (_url(model, "change", mine.pk) in html) != may["view"]:
                    failures.append(f"{who} {label} changelist: own row {'missing' if may['view'] else 'listed'}")
                if theirs.pk != mine.pk and _url(model, "change", theirs.pk) in html and who != SUPERUSER:
                    failures.append(f"{who} {label} changelist: another organization's row listed")
                if ("addlink" in _object_tools(html)) != may["add"]:
                    failures.append(f"{who} {label} changelist: Add button {'missing' if may['add'] else 'shown'}")

            # Add page (Membership's sends managers on to the invitation form).
            add_ok = (200, 302) if label == "tenancy.membership" else (200,)
            check("add page", client.get(_url(model, "add")), may["add"], ok=add_ok)

            # Change and delete pages of the caller's own row, and of the other organization's.
            response = client.get(_url(model, "change", mine.pk))
            check("change page", response, may["view"], save_button=may["change"])
            check("delete page", client.get(_url(model, "delete", mine.pk)), may["delete"])
            foreign = theirs.pk != mine.pk and who != SUPERUSER
            if foreign:
                check("other org's change page", client.get(_url(model, "change", theirs.pk)), False)
                check("other org's delete page", client.get(_url(model, "delete", theirs.pk)), False)

            # Writes refused to whoever may not make them: nothing changes.
            targets = [(mine, not may["change"], not may["delete"])] + ([(theirs, True, True)] if foreign else [])
            for obj, refuse_change, refuse_delete in targets:
                before = model._default_manager.filter(pk=obj.pk).values().first()
                if refuse_change:
                    check(f"POST change {obj.pk}", client.post(_url(model, "change", obj.pk), {}), False)
                if refuse_delete:
                    check(f"POST delete {obj.pk}", client.post(_url(model, "delete", obj.pk), {"post": "yes"}), False)
                if not _unchanged(model, obj.pk, before):
                    failures.append(f"{who} {label} {obj.pk}: a refused POST changed the row")
            if not may["add"]:
                count = model._default_manager.count()
                check("POST add", client.post(_url(model, "add"), {}), False)
                if model._default_manager.count() != count:
                    failures.append(f"{who} {label} POST add: a row was added")
    assert not failures, f"{len(failures)} matrix failure(s):\n" + "\n".join(failures)
