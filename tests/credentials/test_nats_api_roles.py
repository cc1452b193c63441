import itertools

import pytest
from django.urls import reverse

from credentials.api.views.nats import NATS_READERS
from credentials.models import NatsRole
from tenancy.roles import MANAGERS
from tests.credentials.nats_support import claims, make_nats_user, make_role, reload, unique
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


def list_url(world, slug=None):
    return reverse("nats-api:natsrole-list", args=[slug or world.org.slug])


def detail_url(role, slug=None):
    return reverse("nats-api:natsrole-detail", args=[slug or role.organization.slug, role.pk])


def role_body(**overrides):
    body = {
        "name": unique("sensors"),
        "publish_allow": ["telemetry.>"],
        "subscribe_allow": ["commands.*.set"],
    }
    return {**body, **overrides}


# --- access --------------------------------------------------------------------------------------------------


def test_list_access(world):
    make_role(world.org)
    assert_access(world, "get", list_url, expect(NATS_READERS, 200))


def test_retrieve_access(world):
    role = make_role(world.org)
    assert_access(world, "get", lambda w: detail_url(role), expect(NATS_READERS, 200))


def test_create_access(world):
    assert_access(world, "post", list_url, expect(MANAGERS, 201), data_for=lambda w: role_body())


def test_update_access(world):
    assert_access(
        world,
        "patch",
        lambda w: detail_url(make_role(w.org)),
        expect(MANAGERS, 200),
        data_for=lambda w: {"description": "changed"},
    )


def test_delete_access(world):
    assert_access(world, "delete", lambda w: detail_url(make_role(w.org)), expect(MANAGERS, 204))


def test_foreign_role_is_not_found_through_own_organization(world, api):
    foreign = make_role(world.other_org)
    api.force_authenticate(world.user("owner"))
    assert api.get(detail_url(foreign, "acme")).status_code == 404
    assert api.patch(detail_url(foreign, "acme"), {"description": "x"}, format="json").status_code == 404
    assert api.delete(detail_url(foreign, "acme")).status_code == 404
    assert NatsRole.objects.filter(pk=foreign.pk, description="").exists()


def test_list_shows_only_this_organization(world, api):
    mine, theirs = make_role(world.org), make_role(world.other_org)
    api.force_authenticate(world.superuser)
    names = [r["name"] for r in api.get(list_url(world)).json()["results"]]
    assert mine.name in names and theirs.name not in names


# --- validation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    ["telemetry.>", "a.*.c", "*", ">", "_INBOX.>", "$JS.API.INFO", "site-1.temp_c", "a.b.c.d.e.f"],
)
def test_good_subjects_are_accepted(world, api, subject):
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), role_body(publish_allow=[subject]), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["publish_allow"] == [subject]


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("a.>.b", "last token"),
        ("a..b", "empty token"),
        (".a", "empty token"),
        ("a.", "empty token"),
        ("a b", "whitespace"),
        (" a", "whitespace"),
        ("a\tb", "whitespace"),
        ("a.b*", "whole tokens"),
        ("a.>x", "whole tokens"),
        ("", "empty"),
    ],
)
def test_bad_subjects_are_400_naming_the_subject(world, api, subject, reason):
    api.force_authenticate(world.user("admin"))
    for field in ["publish_allow", "publish_deny", "subscribe_allow", "subscribe_deny"]:
        body = role_body(**{field: ["ok.subject", subject]})
        response = api.post(list_url(world), body, format="json")
        assert response.status_code == 400, (field, subject)
        errors = response.json()[field]
        assert list(errors) == ["1"]  # the offending item's index, with a message naming the subject
        message = " ".join(errors["1"])
        assert reason in message
        if subject:
            assert repr(subject) in message
    assert not NatsRole.objects.filter(organization=world.org).exists()


def test_subject_list_must_be_a_list_of_strings(world, api):
    api.force_authenticate(world.user("admin"))
    assert api.post(list_url(world), role_body(publish_allow="a.b"), format="json").status_code == 400
    assert api.post(list_url(world), role_body(publish_allow=[1]), format="json").status_code == 400


def test_duplicate_subjects_are_kept_once(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), role_body(publish_allow=["a.b", "a.b", "c"]), format="json")
    assert response.json()["publish_allow"] == ["a.b", "c"]


def test_role_names_are_unique_per_organization(world, api):
    make_role(world.other_org, name="sensors")
    api.force_authenticate(world.user("admin"))
    assert api.post(list_url(world), role_body(name="sensors"), format="json").status_code == 201
    response = api.post(list_url(world), role_body(name="sensors"), format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.json()["name"])


def test_model_rules_are_enforced(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), role_body(response_max=0, max_payload=-2), format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"response_max", "max_payload"}


# --- behaviour -----------------------------------------------------------------------------------------------


def test_editing_a_role_reissues_its_active_users(world, api):
    role = make_role(world.org)
    holder = make_nats_user(world.org, role=role)
    inactive = make_nats_user(world.org, role=role)
    from credentials.services import nats as svc

    svc.deactivate_user(inactive)
    inactive_jwt = reload(inactive).jwt
    before_jwt = holder.jwt
    api.force_authenticate(world.user("admin"))
    response = api.patch(detail_url(role), {"publish_allow": ["telemetry.>", "events.>"]}, format="json")
    assert response.status_code == 200, response.content
    after_jwt = reload(holder).jwt
    assert after_jwt != before_jwt
    after = claims(after_jwt)
    assert after["iat"] >= claims(before_jwt)["iat"]
    assert after["nats"]["pub"]["allow"] == ["telemetry.>", "events.>"]
    assert reload(inactive).jwt == inactive_jwt


def test_role_in_use_cannot_be_deleted(world, api):
    role = make_role(world.org)
    user = make_nats_user(world.org, name="pump-7", role=role)
    api.force_authenticate(world.user("owner"))
    response = api.delete(detail_url(role))
    assert response.status_code == 400
    message = str(response.json()["detail"])
    assert "still in use" in message and "pump-7" in message
    assert NatsRole.objects.filter(pk=role.pk).exists()
    user.delete()
    assert api.delete(detail_url(role)).status_code == 204


def test_user_count_and_no_n_plus_one(world, api, django_assert_max_num_queries):
    counter = itertools.count()
    for _ in range(10):
        role = make_role(world.org)
        for _ in range(2):
            make_nats_user(world.org, name=f"d{next(counter)}", role=role)
    api.force_authenticate(world.user("auditor"))
    with django_assert_max_num_queries(5):
        response = api.get(list_url(world))
    results = response.json()["results"]
    assert len(results) == 10
    assert {r["user_count"] for r in results} == {2}


def test_search_and_filter(world, api):
    make_role(world.org, name="sensors", description="temperature probes")
    make_role(world.org, name="gateways", allow_responses=True)
    api.force_authenticate(world.user("admin"))
    assert [r["name"] for r in api.get(list_url(world), {"search": "probes"}).json()["results"]] == ["sensors"]
    response = api.get(list_url(world), {"allow_responses": "true"})
    assert [r["name"] for r in response.json()["results"]] == ["gateways"]
