"""The NATS users list at scale: keyset pages, queries that do not grow with rows, no credentials read."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from credentials.models import NatsUser
from stoneage.api import encode_cursor, sort_keys
from tests.credentials.nats_support import link_user, make_nats_user, make_role, membership_of
from tests.support.lists import page_queries, queries_of, token_client, walk, walk_back

pytestmark = pytest.mark.django_db


def list_url(slug="acme"):
    return reverse("nats-api:natsuser-list", args=[slug])


@pytest.fixture
def admin(world) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user("admin"))
    return client


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def make_users(world, count: int, start: int = 0) -> list[NatsUser]:
    roles = [make_role(world.org) for _ in range(3)]
    return [make_nats_user(world.org, f"dev-{i:03d}", role=roles[i % 3]) for i in range(start, start + count)]


def ordered_names(org, *ordering) -> list[str]:
    return list(NatsUser.objects.filter(organization=org).order_by(*ordering).values_list("name", flat=True))


def test_a_page_costs_the_same_queries_over_5_and_50_users(world, admin):
    make_users(world, 2)
    link_user(membership_of(world, "member"))
    link_user(membership_of(world, "viewer"))
    assert NatsUser.objects.filter(organization=world.org).count() == 5  # with the platform's service user
    small = queries_of(lambda: admin.get(list_url(), {"limit": 100}))
    make_users(world, 45, start=2)  # more roles, too: they are fetched once per page
    assert NatsUser.objects.filter(organization=world.org).count() == 50
    large = queries_of(lambda: admin.get(list_url(), {"limit": 100}))
    assert len(large) == len(small), "\n".join(large)


def test_a_page_is_five_queries_with_a_token_or_signed_in(world, admin):
    make_users(world, 6)
    # The token with its user, organization and role there; the page; the page's roles, account, signing keys.
    with_token = page_queries(token_client(world.user("admin"), world.org), list_url())
    assert len(with_token) == 5, "\n".join(with_token)
    # The organization with the role there; the page and its three related lists.
    signed_in = page_queries(admin, list_url())
    assert len(signed_in) == 5, "\n".join(signed_in)


def test_the_list_reads_no_credentials(world, admin):
    make_users(world, 2)
    sql = "\n".join(queries_of(lambda: admin.get(list_url())))
    for column in ('"credentials_natsuser"."jwt"', '"credentials_natsuser"."seed"', '"credentials_account"."jwt"'):
        assert column not in sql
    assert '"credentials_account"."seed"' not in sql and '"credentials_account"."revocations"' not in sql
    assert '"credentials_accountsigningkey"."seed"' not in sql


def test_pages_follow_cursors_forward_and_back(world, admin):
    make_users(world, 12)
    everything = ordered_names(world.org, "name")
    names, pages = walk(admin, list_url(), {"limit": 5}, key="name")
    assert names == everything
    assert [len(page["results"]) for page in pages] == [5, 5, 3]  # 12 users and the platform's service user
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    assert walk_back(admin, pages[-1], key="name") == everything[:10]


@pytest.mark.parametrize("ordering", ["-name", "created", "-updated"])
def test_every_ordering_pages_through_every_user_once(world, admin, ordering):
    make_users(world, 7)
    names, _ = walk(admin, list_url(), {"limit": 3, "ordering": ordering}, key="name")
    assert names == ordered_names(world.org, ordering, ("-" if ordering.startswith("-") else "") + "id")


@pytest.mark.parametrize("descending", [False, True])
def test_a_nullable_ordering_pages_through_nulls_and_ties(world, admin, descending):
    soon = timezone.now() + timedelta(days=30)
    for i, days in enumerate([None, 3, None, 1, 3, 3, None, 2]):
        make_nats_user(world.org, f"exp-{i}", expires_at=None if days is None else soon + timedelta(days=days))
    ordering = "-expires_at" if descending else "expires_at"
    names, _ = walk(admin, list_url(), {"limit": 2, "ordering": ordering}, key="name")
    rows = NatsUser.objects.filter(organization=world.org).values_list("name", "expires_at", "id")
    # Empty expiries sort after every date, whichever the direction; the id breaks ties in the same direction.
    last = soon + timedelta(days=999)
    expected = sorted(rows, key=lambda row: (row[1] or last, row[2]), reverse=descending)
    assert names == [name for name, _, _ in expected]


def test_filters_and_search_hold_on_every_page(world, admin):
    role = make_role(world.org)
    wanted = [make_nats_user(world.org, f"pump-{i}", role=role, description="north hall").name for i in range(5)]
    make_users(world, 4)
    names, pages = walk(admin, list_url(), {"limit": 2, "role": role.pk}, key="name")
    assert names == sorted(wanted) and len(pages) == 3
    assert walk(admin, list_url(), {"limit": 2, "search": "north"}, key="name")[0] == sorted(wanted)
    assert walk(admin, list_url(), {"limit": 2, "search": "north", "ordering": "-name"}, key="name")[0] == sorted(
        wanted, reverse=True
    )


def test_another_organizations_users_never_appear_and_cursors_do_not_cross(world, admin):
    make_users(world, 4)
    foreign = make_nats_user(world.other_org, "globex-device")
    names, pages = walk(admin, list_url(), {"limit": 2}, key="name")
    assert foreign.name not in names
    outsider = APIClient()
    outsider.force_authenticate(world.outsider)
    assert outsider.get(list_url()).status_code == 404
    # A cursor is only a position: on the other organization's list it pages that organization's users.
    cursor = cursor_of(pages[0]["next"])
    response = outsider.get(list_url("globex"), {"cursor": cursor})
    assert response.status_code == 200
    assert {u["name"] for u in response.json()["results"]} <= set(ordered_names(world.other_org, "name"))


def test_members_page_through_their_own_user_only(world):
    make_users(world, 3)
    mine = link_user(membership_of(world, "member"))
    member = APIClient()
    member.force_authenticate(world.user("member"))
    assert walk(member, list_url(), {"limit": 1}, key="name")[0] == [mine.name]


@pytest.mark.parametrize(
    "params",
    [{"ordering": "-created"}, {"ordering": "name"}],
    ids=["cursor-of-another-ordering", "cursor-of-the-same-ordering-forged"],
)
def test_a_cursor_of_another_ordering_or_forged_is_an_invalid_cursor(world, admin, params):
    make_users(world, 3)
    cursor = cursor_of(admin.get(list_url(), {"limit": 1}).json()["next"])
    if params["ordering"] == "name":
        cursor = encode_cursor(sort_keys(NatsUser.objects.order_by("name")), ["dev\x00", 1])
    response = admin.get(list_url(), {"cursor": cursor, **params})
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}


def test_an_offset_is_refused_with_the_way_to_page(world, admin):
    response = admin.get(list_url(), {"offset": 100})
    assert response.status_code == 400
    assert "cursor" in response.json()["offset"][0]


def test_the_list_has_an_index_in_its_order():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, NatsUser._meta.db_table)
    assert any(c["index"] and c["columns"][:2] == ["organization_id", "name"] for c in constraints.values())


def test_the_schema_documents_cursor_pages(world, admin):
    schema = admin.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/orgs/{org_slug}/nats/users/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"cursor", "limit"} <= names and "offset" not in names
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][page]["properties"]) == {"next", "previous", "results"}
