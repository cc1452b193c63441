"""Admin changelists filter only by what their list filters, date hierarchy and search offer.

Django applies any other `?field__lookup=` to the queryset, so `?jwt__startswith=…` on a changelist the caller
can read would rebuild a bearer user's JWT (or a sealed seed, a token hash) a character at a time.
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from credentials.models import Account, AccountImport, CertificateAuthority, Host, NatsUser, Operator
from credentials.secrets import EncryptedSecretField
from credentials.services import nats as nats_svc
from tenancy import services
from tenancy.admin_mixins import ListFilterLookupsOnlyMixin
from tenancy.models import ApiToken, Invitation, Organization
from tests.credentials.nats_support import make_nats_user
from tests.credentials.nebula_support import make_host

pytestmark = pytest.mark.django_db

User = get_user_model()

#: Columns that are credentials or stand in for one, per model: each is probed explicitly below.
SECRETS = {
    NatsUser: ["jwt", "seed"],
    Account: ["jwt", "seed"],
    Operator: ["jwt", "seed"],
    CertificateAuthority: ["key", "next_key"],
    Host: ["private_key"],
    AccountImport: ["token"],
    ApiToken: ["secret_hash"],
    Invitation: ["token_hash"],
    User: ["password"],
}


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def stocked(world):
    """The world with one row of every credential kind, so that a working probe would find something."""
    nats_svc.bootstrap()
    for org in Organization.objects.all():
        org.save()  # provisions the NATS account the bootstrap came too late for
    world.bearer = make_nats_user(world.org, bearer=True)
    link = AccountImport(
        organization=world.org,
        account=world.bearer.account,
        exporter=nats_svc.system_account(),
        name="events",
        subject="$SYS.ACCOUNT.*.>",
    )
    nats_svc.save_account_link(link)
    AccountImport.objects.filter(pk=link.pk).update(token="eyJ0eXAiOiJKV1QifQ.activation.signature")
    world.host = make_host(world.org)
    services.create_api_token(user=world.user("admin"), organization=world.org, name="ci")
    services.invite(organization=world.org, email="new@example.com", acting_user=world.user("owner"))
    return world


def test_every_admin_shares_the_rule():
    outside = [
        model._meta.label
        for model, model_admin in registered()
        if not isinstance(model_admin, ListFilterLookupsOnlyMixin)
    ]
    assert outside == []


def test_the_secret_list_names_every_sealed_column():
    sealed = {
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedSecretField) and model in admin.site._registry
    }
    assert sealed <= {(model, name) for model, names in SECRETS.items() for name in names}


@pytest.mark.parametrize("who", ["auditor", "superuser"])
def test_probing_a_secret_column_is_refused(stocked, client, who):
    client.force_login(stocked.superuser if who == "superuser" else stocked.user("auditor"))
    prefix = stocked.bearer.jwt[:12]
    failures = []
    for model, names in SECRETS.items():
        url = changelist(model)
        readable = client.get(url).status_code == 200
        for name in names:
            for lookup, value in [("startswith", prefix), ("regex", "^."), ("gt", ""), ("isnull", "False")]:
                status = client.get(url, {f"{name}__{lookup}": value}).status_code
                if status != (400 if readable else 403):
                    failures.append(f"{model._meta.label}.{name}__{lookup}: {status}")
    assert failures == []


def test_the_jwt_oracle_is_closed_for_an_auditor(stocked, client):
    client.force_login(stocked.user("auditor"))
    url = changelist(NatsUser)
    assert stocked.bearer.name in client.get(url).content.decode()
    for guess in (stocked.bearer.jwt[:20], "no-such-prefix"):
        response = client.get(url, {"jwt__startswith": guess})
        assert response.status_code == 400
        assert stocked.bearer.name not in response.content.decode()


@pytest.mark.parametrize("who", ["auditor", "superuser"])
def test_every_changelist_refuses_lookups_on_every_column(stocked, client, who):
    client.force_login(stocked.superuser if who == "superuser" else stocked.user("auditor"))
    failures = []
    for model, _ in registered():
        url = changelist(model)
        if client.get(url).status_code != 200:
            continue
        for field in model._meta.concrete_fields:
            status = client.get(url, {f"{field.name}__gt": "0"}).status_code
            if status != 400:
                failures.append(f"{model._meta.label}.{field.name}__gt: {status}")
    assert failures == []


def test_every_list_filter_choice_still_works(stocked, client):
    client.force_login(stocked.superuser)
    failures, tried = [], 0
    for model, _ in registered():
        url = changelist(model)
        cl = client.get(url).context["cl"]
        for spec in cl.filter_specs:
            for choice in spec.choices(cl):
                tried += 1
                response = client.get(url + choice["query_string"])
                if response.status_code != 200:
                    failures.append(f"{model._meta.label} {choice['query_string']}: {response.status_code}")
    assert failures == []
    assert tried > 50


def test_filters_for_staff_with_search_ordering_and_facets(stocked, client):
    client.force_login(stocked.user("auditor"))
    url = changelist(NatsUser)
    query = f"?organization__id__exact={stocked.org.pk}&active__exact=1&q={stocked.bearer.name}&o=1&_facets=1"
    response = client.get(url + query)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_the_date_hierarchy_still_drills_down(stocked, client):
    client.force_login(stocked.user("auditor"))
    when = AuditEvent.objects.filter(organization=stocked.org).latest("timestamp").timestamp
    url = changelist(AuditEvent)
    for params in (
        {"timestamp__year": when.year},
        {"timestamp__year": when.year, "timestamp__month": when.month},
        {"timestamp__year": when.year, "timestamp__month": when.month, "timestamp__day": when.day},
    ):
        response = client.get(url, params)
        assert response.status_code == 200
        assert response.context["cl"].result_count > 0
    # The bounds the hierarchy produces are not a door of their own.
    assert client.get(url, {"timestamp__month": when.month}).status_code == 400


def test_search_reaches_no_secret_column():
    failures = []
    for model, model_admin in registered():
        for path in model_admin.search_fields:
            field_name = path.lstrip("=^@").split("__")[-1]
            secrets = SECRETS.get(model, [])
            if field_name in secrets or field_name in {"jwt", "seed", "key", "private_key", "token", "password"}:
                failures.append(f"{model._meta.label}: {path}")
    assert failures == []


def test_a_search_for_a_secret_finds_nothing(stocked, client):
    client.force_login(stocked.superuser)
    response = client.get(changelist(NatsUser), {"q": stocked.bearer.jwt[:40]})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
