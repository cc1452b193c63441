"""The things and locations lists: filters (type, location subtree, activity, metadata), search, ordering,
cursor pages, and a constant number of queries per page."""

from __future__ import annotations

import pytest
from django.db import connection

from inventory.models import Location, Thing
from inventory.services import things
from tests.inventory.api_support import client_of, make_location, make_thing, make_type, url
from tests.support.lists import queries_of, walk, walk_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(world):
    return client_of(world.user("viewer"))


@pytest.fixture
def fleet(world):
    """site > hall > room, another site; sensors and cameras spread over them."""
    sensor, camera = make_type(world.org, "sensor"), make_type(world.org, "camera", metadata_schema={})
    site = make_location(world.org, "site")
    hall = make_location(world.org, "hall", parent=site)
    room = make_location(world.org, "room", parent=hall)
    other = make_location(world.org, "other-site")
    spots = [site, hall, room, other, None]
    for i in range(10):
        make_thing(
            world.org,
            f"s-{i:02d}",
            sensor,
            name=f"Sensor {i}",
            location=spots[i % 5],
            metadata={"floor": i % 3, "vendor": "acme" if i % 2 else "3"},
        )
    for i in range(3):
        make_thing(world.org, f"c-{i:02d}", camera, location=room, metadata={"lens": "wide"})
    things.deactivate_thing(Thing.objects.get(code="s-01"))
    return {"sensor": sensor, "camera": camera, "site": site, "hall": hall, "room": room, "other": other}


def codes(client, org, **params) -> list[str]:
    return walk(client, url("thing-list", org), {"limit": 4, **params}, key="code")[0]


def test_filters_by_type_activity_and_location_subtree(world, fleet, viewer):
    assert codes(viewer, world.org, thing_type=fleet["camera"].pk) == ["c-00", "c-01", "c-02"]
    assert codes(viewer, world.org, active="false") == ["s-01"]
    # Subtree: the hall and the room under it, not the site above or the other site.
    assert codes(viewer, world.org, location_within=fleet["hall"].pk) == [
        "c-00",
        "c-01",
        "c-02",
        "s-01",
        "s-02",
        "s-06",
        "s-07",
    ]
    assert codes(viewer, world.org, location_within=fleet["site"].pk, thing_type=fleet["sensor"].pk) == [
        "s-00",
        "s-01",
        "s-02",
        "s-05",
        "s-06",
        "s-07",
    ]
    assert codes(viewer, world.org, location=fleet["room"].pk, thing_type=fleet["sensor"].pk) == ["s-02", "s-07"]
    assert codes(viewer, world.org, has_location="false") == ["s-04", "s-09"]


def test_metadata_filters(world, fleet, viewer):
    assert codes(viewer, world.org, metadata="floor:2") == ["s-02", "s-05", "s-08"]
    assert codes(viewer, world.org, metadata=["floor:0", "vendor:acme"]) == ["s-03", "s-09"]
    # "3" matches the string "3" (and would match the number 3).
    assert codes(viewer, world.org, metadata="vendor:3") == ["s-00", "s-02", "s-04", "s-06", "s-08"]
    assert codes(viewer, world.org, metadata_has="lens") == ["c-00", "c-01", "c-02"]
    assert codes(viewer, world.org, metadata="floor:9") == []
    # A key is a key, whatever it spells: never a lookup or an array index.
    make_thing(world.org, "odd", fleet["camera"], metadata={"contains": 1, "0": "x"})
    assert codes(viewer, world.org, metadata="contains:1") == ["odd"]
    assert codes(viewer, world.org, metadata="0:x") == ["odd"]
    assert codes(viewer, world.org, metadata_has="contains") == ["odd"]


@pytest.mark.parametrize(
    "params",
    [
        {"metadata": "floor"},
        {"metadata": "flo-or:1"},
        {"metadata": "a.b:1"},
        {"metadata_has": "a'b"},
        {"metadata_has": "x" * 65},
        {"metadata": [f"k{i}:1" for i in range(11)]},
        {"location_within": "2" * 30},
        {"thing_type": "sensor"},
    ],
)
def test_bad_filter_values_are_a_400_naming_the_parameter(world, fleet, viewer, params):
    response = viewer.get(url("thing-list", world.org), params)
    assert response.status_code == 400, response.content
    assert set(params) <= set(response.json())


def test_search_and_ordering(world, fleet, viewer):
    assert codes(viewer, world.org, search="sensor 1") == ["s-01"]
    assert codes(viewer, world.org, search="C-0") == ["c-00", "c-01", "c-02"]
    ordered = codes(viewer, world.org, ordering="-code")
    assert ordered == sorted(ordered, reverse=True) and len(ordered) == 13


def test_pages_follow_cursors_forward_and_back(world, fleet, viewer):
    everything = list(Thing.objects.filter(organization=world.org).order_by("code").values_list("code", flat=True))
    names, pages = walk(viewer, url("thing-list", world.org), {"limit": 5}, key="code")
    assert names == everything and [len(p["results"]) for p in pages] == [5, 5, 3]
    assert walk_back(viewer, pages[-1], key="code") == everything[:10]
    response = viewer.get(url("thing-list", world.org), {"offset": 5})
    assert response.status_code == 400 and "offset" in response.json()


def test_another_organizations_things_and_locations_never_appear(world, fleet, viewer):
    theirs = make_location(world.other_org, "theirs")
    make_thing(world.other_org, "foreign", make_type(world.other_org), location=theirs, metadata={"floor": 2})
    assert "foreign" not in codes(viewer, world.org)
    assert codes(viewer, world.org, location_within=theirs.pk) == []
    assert "foreign" not in codes(viewer, world.org, metadata="floor:2")
    response = viewer.get(url("location-list", world.org), {"within": theirs.pk})
    assert response.status_code == 200 and response.json()["results"] == []
    assert client_of(world.outsider).get(url("thing-list", world.org)).status_code == 404


# The queries of a page of things: the organization, the caller's role in it, the page. Pinned: a relation
# serialized as an object, or a per-row lookup, would add queries. A subtree filter reads its location's path.
THINGS_PAGE_QUERIES = 3


def test_a_page_of_things_costs_the_same_queries_over_5_and_50_things(world, viewer, django_assert_num_queries):
    sensor = make_type(world.org)
    site = make_location(world.org, "site")
    for i in range(5):
        make_thing(world.org, f"a-{i:02d}", sensor, location=site)
    listing = url("thing-list", world.org)
    small = queries_of(lambda: viewer.get(listing, {"limit": 100}))
    hall = make_location(world.org, "hall", parent=site)
    for i in range(45):
        make_thing(world.org, f"b-{i:02d}", make_type(world.org, f"type-{i % 7}") if i < 7 else sensor, location=hall)
    large = queries_of(lambda: viewer.get(listing, {"limit": 100}))
    assert len(large) == len(small), "\n".join(large)
    with django_assert_num_queries(THINGS_PAGE_QUERIES):
        assert viewer.get(listing, {"limit": 100}).status_code == 200
    with django_assert_num_queries(THINGS_PAGE_QUERIES + 1):
        response = viewer.get(listing, {"limit": 100, "location_within": site.pk, "metadata": "floor:1"})
    assert response.status_code == 200


def test_locations_page_with_cursors_and_filter_a_subtree(world, viewer):
    site = make_location(world.org, "site")
    hall = make_location(world.org, "hall", parent=site)
    for i in range(6):
        make_location(world.org, f"room-{i}", parent=hall)
    other = make_location(world.org, "other")
    listing = url("location-list", world.org)
    within = walk(viewer, listing, {"limit": 3, "within": hall.pk}, key="code")[0]
    assert within == ["hall", *[f"room-{i}" for i in range(6)]]
    assert walk(viewer, listing, {"limit": 3, "root": "true"}, key="code")[0] == ["other", "site"]
    assert walk(viewer, listing, {"limit": 3, "parent": site.pk}, key="code")[0] == ["hall"]
    everything = walk(viewer, listing, {"limit": 4}, key="code")[0]
    assert sorted(everything) == everything and len(everything) == 9 and other.code in everything
    small = queries_of(lambda: viewer.get(listing, {"limit": 100}))
    for i in range(20):
        make_location(world.org, f"cell-{i}", parent=Location.objects.get(code="room-0"))
    assert len(queries_of(lambda: viewer.get(listing, {"limit": 100}))) == len(small)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")
def test_the_search_fields_have_trigram_indexes():
    from inventory.api.views import LocationViewSet, ThingViewSet

    with connection.cursor() as cursor:
        for table, view in (("inventory_thing", ThingViewSet), ("inventory_location", LocationViewSet)):
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
            definitions = [row[0] for row in cursor.fetchall() if "gin_trgm_ops" in row[0]]
            assert len(definitions) == len(view.search_fields), definitions
