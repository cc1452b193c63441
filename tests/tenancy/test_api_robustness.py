"""Bad input to the tenancy API is a 4xx with a message, never a 500: NUL characters (PostgreSQL refuses them in
text), numbers past 64 bits, malformed bodies, huge page sizes, unknown or malformed slugs."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tenancy import services
from tenancy.models import Organization

pytestmark = pytest.mark.django_db

HUGE = str(10**30)


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_slug_with_a_nul_in_the_path_is_a_404(world):
    client = signed_in(world.superuser)
    assert client.get("/api/v1/orgs/acme%00/").status_code == 404
    assert client.get("/api/v1/orgs/acme%00/memberships/").status_code == 404


def test_an_organization_named_by_query_parameter_must_be_a_slug(world):
    client = signed_in(world.user("owner"))
    for org in ("acme\x00", "acmé", "a" * 500):
        response = client.post(reverse("nats-api:my-nats-creds-rotate") + "?" + _query(org=org))
        assert response.status_code == 404, (org, response.content)


def test_an_owner_email_with_a_nul_is_a_field_error(world):
    client = signed_in(world.superuser)
    response = client.post(
        reverse("tenancy-api:organization-list"),
        {"name": "Initech", "slug": "initech", "owner": "olivia\x00@example.com"},
        format="json",
    )
    assert response.status_code == 400
    assert "owner" in response.data
    assert not Organization.objects.filter(slug="initech").exists()


def test_a_token_for_an_organization_slug_with_a_nul_is_a_field_error(world):
    response = signed_in(world.user("owner")).post(
        reverse("tenancy-api:apitoken-list"), {"name": "ci", "organization": "acme\x00"}, format="json"
    )
    assert response.status_code == 400
    assert "organization" in response.data


def test_a_token_expiring_past_the_calendar_is_a_field_error(world):
    response = signed_in(world.user("owner")).post(
        reverse("tenancy-api:apitoken-list"),
        {"name": "ci", "organization": "acme", "expires_at": "9999-12-31T23:59:59-12:00"},
        format="json",
    )
    assert response.status_code == 400
    assert "expires_at" in response.data


@pytest.mark.parametrize("prefix", ["\x00\x00\x00\x00", "nothex!!", "x" * 200])
def test_a_malformed_token_in_the_authorization_header_is_a_401(world, prefix):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer sat_{prefix}_secret")
    assert client.get(reverse("tenancy-api:me")).status_code == 401


def test_membership_user_filter_takes_a_plain_id(world):
    client = signed_in(world.user("owner"))
    url = reverse("tenancy-api:membership-list", args=["acme"])
    member = world.user("member")
    assert [m["user"]["id"] for m in client.get(url, {"user": member.pk}).data["results"]] == [member.pk]
    # Another organization's user looks like nobody at all, not like "a choice you may not make".
    assert client.get(url, {"user": world.outsider.pk}).data["count"] == 0
    for bad in (HUGE, "-" + HUGE, "abc", "1e308", "\x00"):
        response = client.get(url, {"user": bad})
        assert response.status_code == 400, (bad, response.content)
        assert "user" in response.data


def test_a_huge_page_size_is_capped(world):
    client = signed_in(world.user("owner"))
    url = reverse("tenancy-api:membership-list", args=["acme"])
    for limit in (HUGE, str(2**63), str(2**63 - 1)):
        response = client.get(url, {"limit": limit})
        assert response.status_code == 200, (limit, response.content)
        assert response.data["count"] == 5
    response = client.get(url, {"limit": "1", "offset": HUGE})
    assert response.status_code == 200
    assert response.data["results"] == []


@pytest.mark.parametrize(
    "body",
    [b'{"email": ', b"\xff\xfe{}", b"[1, 2]", b'"text"', b"null"],
    ids=["truncated", "not-utf8", "list", "string", "null"],
)
def test_a_malformed_json_body_is_a_400(world, body):
    response = signed_in(world.user("owner")).post(
        reverse("tenancy-api:invitation-list", args=["acme"]), body, content_type="application/json"
    )
    assert response.status_code == 400


def test_strings_where_lists_or_numbers_belong_are_field_errors(world):
    client = signed_in(world.user("owner"))
    membership = world.org.memberships.get(user=world.user("member"))
    url = reverse("tenancy-api:membership-detail", args=["acme", membership.pk])
    for role in (["admin"], {"role": "admin"}, 1, "admin\x00"):
        response = client.patch(url, {"role": role}, format="json")
        assert response.status_code == 400, (role, response.content)
        assert "role" in response.data
    membership.refresh_from_db()
    assert membership.role == "member"


def test_a_non_numeric_or_huge_id_in_the_url_is_a_404(world):
    client = signed_in(world.user("owner"))
    for pk in ("abc", HUGE, "-1", "%00"):
        assert client.get(f"/api/v1/orgs/acme/memberships/{pk}/").status_code == 404, pk
        assert client.get(f"/api/v1/tokens/{pk}/").status_code == 404, pk


def test_unknown_slugs_are_404(world):
    client = signed_in(world.user("owner"))
    assert client.get("/api/v1/orgs/nope/").status_code == 404
    assert client.get("/api/v1/orgs/nope/memberships/").status_code == 404
    assert client.get("/api/v1/orgs/%C3%A9t%C3%A9/invitations/").status_code == 404


def test_invitations_refuse_nul_and_overlong_emails(world):
    client = signed_in(world.user("owner"))
    url = reverse("tenancy-api:invitation-list", args=["acme"])
    for email in ("a\x00@example.com", "x" * 64 + "@" + "y" * 250 + ".com"):
        response = client.post(url, {"email": email}, format="json")
        assert response.status_code == 400, (email, response.content)
        assert "email" in response.data
    assert client.get(url, {"email": "a\x00"}).status_code == 400


def test_accepting_an_invitation_with_a_nul_or_huge_token_is_not_found(world):
    services.invite(organization=world.org, email="new@example.com", role="member", acting_user=world.user("owner"))
    client = signed_in(world.outsider)
    for token in ("\x00", "x" * 200):
        response = client.post(reverse("tenancy-api:accept-invitation"), {"token": token}, format="json")
        assert response.status_code in (400, 404), (token, response.content)


def _query(**params) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def test_a_body_past_the_upload_limit_is_a_413_with_a_message(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = signed_in(world.user("owner")).post(
        reverse("tenancy-api:invitation-list", args=["acme"]),
        {"email": "new@example.com", "padding": "x" * 2000},
        format="json",
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large (at most 1,000 bytes)."}
