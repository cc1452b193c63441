"""The people API (`/api/v1/users/`): platform operators only, signed in or with a platform token."""

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from tenancy import services
from tenancy.models import ApiToken
from tests.support.authz import assert_access, expect
from tests.support.world import make_user

pytestmark = pytest.mark.django_db

User = get_user_model()
_numbers = itertools.count()

#: Only platform operators: every tenant role, the outsider and an organization token are refused.
OPERATORS_ONLY = {"allowed": [], "denied": 403, "outsider": 403, "org_token": 403}


def users_url(world=None) -> str:
    return reverse("tenancy-api:user-list")


def user_url(person) -> str:
    return reverse("tenancy-api:user-detail", args=[person.pk])


def fresh_person(world=None):
    return make_user(f"person{next(_numbers)}")


def test_listing_people_is_for_operators_only(world):
    assert_access(world, "get", users_url, expect(ok=200, platform_token=200, **OPERATORS_ONLY))


def test_retrieving_a_person_is_for_operators_only(world):
    assert_access(
        world, "get", lambda w: user_url(w.user("member")), expect(ok=200, platform_token=200, **OPERATORS_ONLY)
    )


def test_creating_a_person_is_for_operators_only(world):
    assert_access(
        world,
        "post",
        users_url,
        expect(ok=201, platform_token=201, **OPERATORS_ONLY),
        data_for=lambda w: {"email": f"new{next(_numbers)}@example.com"},
    )


def test_updating_a_person_is_for_operators_only(world):
    assert_access(
        world,
        "patch",
        lambda w: user_url(fresh_person()),
        expect(ok=200, platform_token=200, **OPERATORS_ONLY),
        data_for=lambda w: {"first_name": "Renamed"},
    )
    assert User.objects.filter(first_name="Renamed").count() == 2  # the superuser and the platform token


def test_deactivating_a_person_is_for_operators_only(world):
    assert_access(
        world,
        "post",
        lambda w: reverse("tenancy-api:user-deactivate", args=[fresh_person().pk]),
        expect(ok=200, platform_token=200, **OPERATORS_ONLY),
    )
    assert User.objects.filter(username__startswith="person", is_active=False).count() == 2


def test_people_are_not_deleted(world):
    assert_access(
        world,
        "delete",
        lambda w: user_url(fresh_person()),
        expect(ok=405, platform_token=405, **OPERATORS_ONLY),
    )
    assert not User.objects.filter(username__startswith="person", is_active=False).exists()


def test_create_with_email_only(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(users_url(), {"email": "Ada@Example.COM", "first_name": "Ada"}, format="json")
    assert response.status_code == 201, response.data
    person = User.objects.get(pk=response.data["id"])
    assert person.email == "Ada@example.com"
    assert person.username == "Ada@example.com"
    assert person.is_active and not person.is_superuser
    assert not person.has_usable_password()
    assert "password" not in response.data


def test_create_with_a_password_validates_and_never_returns_it(world, api):
    api.force_authenticate(world.superuser)
    weak = api.post(users_url(), {"email": "b@example.com", "password": "123"}, format="json")
    assert weak.status_code == 400
    assert "password" in weak.data and "too short" in str(weak.data["password"])
    assert not User.objects.filter(email="b@example.com").exists()

    response = api.post(users_url(), {"email": "b@example.com", "password": "a long enough passphrase"}, format="json")
    assert response.status_code == 201
    assert "password" not in response.data
    person = User.objects.get(email="b@example.com")
    assert person.check_password("a long enough passphrase")
    assert "passphrase" not in str(api.get(user_url(person)).content)


def test_email_is_unique_regardless_of_case(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(users_url(), {"email": "MIA@example.com"}, format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.data["email"][0])

    other = fresh_person()
    response = api.patch(user_url(other), {"email": "Mia@Example.com"}, format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.data["email"][0])
    # Keeping one's own address in another case is not a clash.
    response = api.patch(user_url(other), {"email": other.email.upper().replace("@EXAMPLE.COM", "@example.com")})
    assert response.status_code == 200


def test_an_email_is_required(world, api):
    api.force_authenticate(world.superuser)
    assert api.post(users_url(), {"username": "nomail"}, format="json").status_code == 400
    assert api.patch(user_url(world.user("member")), {"email": ""}, format="json").status_code == 400


def test_a_taken_username_is_a_clear_400(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(users_url(), {"email": "x@example.com", "username": "mia"}, format="json")
    assert response.status_code == 400
    assert "username" in response.data


def test_update_changes_names_email_and_not_the_rest(world, api):
    api.force_authenticate(world.superuser)
    person = world.user("viewer")
    response = api.patch(
        user_url(person),
        {
            "first_name": "Victor",
            "last_name": "V",
            "email": "victor@example.com",
            "username": "x",
            "is_superuser": True,
        },
        format="json",
    )
    assert response.status_code == 200, response.data
    person.refresh_from_db()
    assert (person.first_name, person.last_name, person.email) == ("Victor", "V", "victor@example.com")
    assert person.username == "vic" and not person.is_superuser


def test_deactivating_revokes_tokens_and_refuses_sign_in(world, api, client):
    person = world.user("member")
    _, secret = services.create_api_token(user=person, organization=world.org, name="ci")
    api.force_authenticate(world.superuser)
    response = api.post(reverse("tenancy-api:user-deactivate", args=[person.pk]))
    assert response.status_code == 200
    assert response.data["is_active"] is False
    assert ApiToken.objects.get(user=person).revoked_at is not None
    assert not client.login(username="mia", password="correct horse battery staple")

    response = api.post(reverse("tenancy-api:user-reactivate", args=[person.pk]))
    assert response.data["is_active"] is True
    assert ApiToken.objects.get(user=person).revoked_at is not None  # reactivation brings no token back


def test_patching_is_active_false_is_a_deactivation(world, api):
    person = world.user("member")
    services.create_api_token(user=person, organization=world.org, name="ci")
    api.force_authenticate(world.superuser)
    assert api.patch(user_url(person), {"is_active": False}, format="json").status_code == 200
    person.refresh_from_db()
    assert not person.is_active
    assert ApiToken.objects.get(user=person).revoked_at is not None


def test_an_operator_cannot_deactivate_themselves(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(reverse("tenancy-api:user-deactivate", args=[world.superuser.pk]))
    assert response.status_code == 400
    assert "yourself" in str(response.data)
    world.superuser.refresh_from_db()
    assert world.superuser.is_active


def test_filters_search_and_ordering(world, api):
    api.force_authenticate(world.superuser)
    services.deactivate_person(person=world.user("viewer"), acting_user=world.superuser)

    def names(**params):
        return [row["username"] for row in api.get(users_url(), params).data["results"]]

    assert names(is_active="false") == ["vic"]
    assert names(search="audrey") == ["audrey"]
    assert names(email="CHARLIE@example.com") == ["charlie"]
    assert names(organization="globex") == ["charlie"]
    assert names(is_superuser="true") == ["root"]
    assert names(ordering="-username")[0] == "vic"


def test_changes_to_people_are_audited_without_secrets(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(
        users_url(), {"email": "audited@example.com", "password": "a long enough passphrase"}, format="json"
    )
    person = User.objects.get(pk=response.data["id"])
    api.post(reverse("tenancy-api:user-deactivate", args=[person.pk]))
    events = AuditEvent.objects.filter(object_type="auth.user", object_id=str(person.pk)).order_by("id")
    assert [e.action for e in events] == ["create", "update"]
    assert all(e.actor_id == world.superuser.pk for e in events)
    assert events[0].after["password"] == "<redacted>"
    assert events[1].changed_fields == ["is_active"]
    assert "passphrase" not in str([(e.before, e.after, e.extra) for e in events])


def test_the_schema_documents_the_people_api(world, api):
    api.force_authenticate(world.superuser)
    schema = api.get(reverse("schema"), {"format": "json"}).json()
    assert {"/api/v1/users/", "/api/v1/users/{id}/", "/api/v1/users/{id}/deactivate/"} <= set(schema["paths"])
    assert "delete" not in schema["paths"]["/api/v1/users/{id}/"]
    person = schema["components"]["schemas"]["Person"]["properties"]
    assert "password" not in person
    assert schema["components"]["schemas"]["PersonRequest"]["properties"]["password"]["writeOnly"] is True
