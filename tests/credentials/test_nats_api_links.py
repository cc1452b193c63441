"""Exports and imports of the organization's account."""

import pytest
from django.urls import reverse

from credentials.api.views.nats import NATS_READERS
from credentials.codecs import natsjwt as nj
from credentials.models import AccountExport, AccountImport
from credentials.services import nats as svc
from tenancy.roles import MANAGERS
from tests.credentials.nats_support import account_of, claims, unique
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


def url(kind, world, pk=None, slug=None):
    slug = slug or world.org.slug
    if pk is None:
        return reverse(f"nats-api:{kind}-list", args=[slug])
    return reverse(f"nats-api:{kind}-detail", args=[slug, pk])


def make_export(org, **fields) -> AccountExport:
    fields.setdefault("name", unique("export"))
    fields.setdefault("subject", f"{unique('public')}.>")
    link = AccountExport(organization=org, account=account_of(org), **fields)
    return svc.save_account_link(link)


def make_import(org, **fields) -> AccountImport:
    fields.setdefault("name", unique("import"))
    fields.setdefault("subject", "$SYS.ACCOUNT.*.>")
    fields.setdefault("exporter", svc.system_account())
    link = AccountImport(organization=org, account=account_of(org), **fields)
    return svc.save_account_link(link)


def export_body(**overrides):
    return {"name": unique("export"), "subject": f"{unique('shared')}.>", **overrides}


def import_body(**overrides):
    body = {"name": unique("import"), "subject": "$SYS.ACCOUNT.*.>", "exporter": svc.system_account().public_key}
    return {**body, **overrides}


# --- access --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "make"), [("export", make_export), ("import", make_import)])
def test_read_access(world, kind, make):
    link = make(world.org)
    assert_access(world, "get", lambda w: url(kind, w), expect(NATS_READERS, 200))
    assert_access(world, "get", lambda w: url(kind, w, link.pk), expect(NATS_READERS, 200))


@pytest.mark.parametrize(("kind", "body"), [("export", export_body), ("import", import_body)])
def test_create_access(world, kind, body):
    assert_access(world, "post", lambda w: url(kind, w), expect(MANAGERS, 201), data_for=lambda w: body())


@pytest.mark.parametrize(("kind", "make"), [("export", make_export), ("import", make_import)])
def test_update_and_delete_access(world, kind, make):
    assert_access(
        world,
        "patch",
        lambda w: url(kind, w, make(w.org).pk),
        expect(MANAGERS, 200),
        data_for=lambda w: {"name": unique("renamed")},
    )
    assert_access(world, "delete", lambda w: url(kind, w, make(w.org).pk), expect(MANAGERS, 204))


@pytest.mark.parametrize(("kind", "make"), [("export", make_export), ("import", make_import)])
def test_foreign_links_are_not_found(world, api, kind, make):
    foreign = make(world.other_org)
    api.force_authenticate(world.user("owner"))
    assert api.get(url(kind, world, foreign.pk)).status_code == 404
    assert api.patch(url(kind, world, foreign.pk), {"name": "x"}, format="json").status_code == 404
    assert api.delete(url(kind, world, foreign.pk)).status_code == 404
    assert type(foreign).objects.filter(pk=foreign.pk).exclude(name="x").exists()


# --- exports -------------------------------------------------------------------------------------------------


def test_export_changes_re_sign_the_account(world, api):
    account = account_of(world.org)
    revision = account.revision
    api.force_authenticate(world.user("admin"))
    body = export_body(subject="status.*", kind="service", response_type="Stream")
    response = api.post(url("export", world), body, format="json")
    assert response.status_code == 201, response.content
    account.refresh_from_db()
    assert account.revision == revision + 1
    (export,) = claims(account.jwt)["nats"]["exports"]
    assert export["subject"] == "status.*" and export["type"] == "service"
    assert export["response_type"] == "Stream"

    pk = response.json()["id"]
    assert api.patch(url("export", world, pk), {"subject": "status.>"}, format="json").status_code == 200
    account.refresh_from_db()
    assert claims(account.jwt)["nats"]["exports"][0]["subject"] == "status.>"
    assert account.revision == revision + 2

    assert api.delete(url("export", world, pk)).status_code == 204
    account.refresh_from_db()
    assert "exports" not in claims(account.jwt)["nats"]
    assert account.revision == revision + 3


def test_export_validation(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(url("export", world), export_body(subject="a..b"), format="json")
    assert response.status_code == 400 and "subject" in response.json()
    response = api.post(url("export", world), export_body(response_type="Singleton"), format="json")
    assert response.status_code == 400
    assert "Only service exports" in str(response.json()["response_type"])
    make_export(world.org, subject="dup.>")
    make_export(world.other_org, subject="theirs.>")
    response = api.post(url("export", world), export_body(subject="dup.>"), format="json")
    assert response.status_code == 400 and "already exports" in str(response.json()["subject"])
    assert api.post(url("export", world), export_body(subject="theirs.>"), format="json").status_code == 201


# --- imports -------------------------------------------------------------------------------------------------


def test_import_from_the_system_account(world, api):
    sys_account = svc.system_account()
    api.force_authenticate(world.user("admin"))
    body = import_body(local_subject="sys.$1.>", kind="stream")
    response = api.post(url("import", world), body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["exporter"] == sys_account.public_key
    (imported,) = claims(account_of(world.org).jwt)["nats"]["imports"]
    assert imported["account"] == sys_account.public_key
    assert imported["subject"] == "$SYS.ACCOUNT.*.>"


def test_import_from_another_organization_is_refused(world, api):
    foreign = account_of(world.other_org)
    revision = account_of(world.org).revision
    api.force_authenticate(world.user("owner"))
    response = api.post(url("import", world), import_body(exporter=foreign.public_key), format="json")
    assert response.status_code == 400
    assert response.json()["exporter"] == [AccountImport.NO_SUCH_EXPORTER]
    link = make_import(world.org)
    response = api.patch(url("import", world, link.pk), {"exporter": foreign.public_key}, format="json")
    assert response.status_code == 400
    assert AccountImport.objects.get(pk=link.pk).exporter.is_system
    assert account_of(world.org).revision == revision + 1  # only make_import re-signed


def test_import_from_itself_or_an_unknown_key_is_refused(world, api):
    api.force_authenticate(world.user("owner"))
    own = account_of(world.org).public_key
    response = api.post(url("import", world), import_body(exporter=own), format="json")
    assert response.status_code == 400 and "itself" in str(response.json()["exporter"])
    unknown = "A" + "B" * 55
    response = api.post(url("import", world), import_body(exporter=unknown), format="json")
    assert response.status_code == 400 and "No NATS account" in str(response.json()["exporter"])


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_foreign_exporter_is_answered_like_a_missing_one(world, api, method):
    """Whether another tenant's account key exists is not for this tenant to learn."""
    link = make_import(world.org)
    target = url("import", world) if method == "post" else url("import", world, link.pk)
    api.force_authenticate(world.user("owner"))

    def answer(exporter: str) -> tuple[int, dict]:
        body = import_body(exporter=exporter) if method == "post" else {"exporter": exporter}
        response = getattr(api, method)(target, body, format="json")
        return response.status_code, response.json()

    foreign = answer(account_of(world.other_org).public_key)
    missing = answer(nj.create_account().public_key)
    assert foreign == missing == (400, {"exporter": [AccountImport.NO_SUCH_EXPORTER]})


def test_import_subjects_are_validated(world, api):
    api.force_authenticate(world.user("owner"))
    response = api.post(url("import", world), import_body(subject="a b"), format="json")
    assert response.status_code == 400 and "subject" in response.json()
    response = api.post(url("import", world), import_body(local_subject="x.>.y"), format="json")
    assert response.status_code == 400 and "local_subject" in response.json()


def test_list_queries(world, api, django_assert_max_num_queries):
    for _ in range(10):
        make_import(world.org)
        make_export(world.org)
    api.force_authenticate(world.user("auditor"))
    for kind in ["import", "export"]:
        with django_assert_max_num_queries(5):
            response = api.get(url(kind, world))
        assert response.json()["count"] == 10
