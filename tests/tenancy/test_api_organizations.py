import pytest
from django.urls import reverse

from tenancy.models import Membership, Organization
from tenancy.roles import ALL_ROLES
from tests.support.authz import ANONYMOUS, OUTSIDER, SUPERUSER, assert_access, expect

pytestmark = pytest.mark.django_db


def org_url(world):
    return reverse("tenancy-api:organization-detail", args=[world.org.slug])


def test_list_shows_only_my_organizations(world, api):
    api.force_authenticate(world.user("viewer"))
    response = api.get(reverse("tenancy-api:organization-list"))
    assert response.status_code == 200
    assert [o["slug"] for o in response.data["results"]] == ["acme"]


def test_superuser_lists_every_organization(world, api):
    api.force_authenticate(world.superuser)
    response = api.get(reverse("tenancy-api:organization-list"))
    assert {o["slug"] for o in response.data["results"]} == {"acme", "globex"}


def test_retrieve_access(world):
    assert_access(world, "get", org_url, expect(ALL_ROLES, 200))


def test_update_is_for_platform_operators(world):
    assert_access(world, "patch", org_url, expect(set(), 200), data_for=lambda w: {"description": "x"})


def test_create_requires_superuser_and_names_an_owner(world, api):
    expected = expect(set(), 201)
    expected.update({OUTSIDER: 403, ANONYMOUS: 401})
    counter = iter(range(100))

    def data(w):
        n = next(counter)
        return {"name": f"New {n}", "slug": f"new-{n}", "owner": w.user("member").email}

    assert_access(world, "post", lambda w: reverse("tenancy-api:organization-list"), expected, data_for=data)
    created = Organization.objects.get(slug__startswith="new-")
    assert Membership.objects.get(organization=created).role == "owner"
    assert Membership.objects.get(organization=created).user == world.user("member")


def test_create_without_owner_is_rejected(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(reverse("tenancy-api:organization-list"), {"name": "N", "slug": "n"}, format="json")
    assert response.status_code == 400
    assert "owner" in response.data


def test_slug_is_immutable(world, api):
    api.force_authenticate(world.superuser)
    response = api.patch(org_url(world), {"slug": "renamed"}, format="json")
    assert response.status_code == 400
    assert "cannot be changed" in str(response.data["slug"])
    world.org.refresh_from_db()
    assert world.org.slug == "acme"


def test_slug_is_immutable_in_the_model(world):
    from django.core.exceptions import ValidationError

    world.org.slug = "renamed"
    with pytest.raises(ValidationError):
        world.org.save()


def test_invalid_slug_is_a_clear_400(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(
        reverse("tenancy-api:organization-list"),
        {"name": "Bad", "slug": "has spaces!", "owner": world.outsider.email},
        format="json",
    )
    assert response.status_code == 400
    assert "slug" in response.data


def test_deactivated_organization_disappears_for_members(world, api):
    api.force_authenticate(world.superuser)
    assert api.patch(org_url(world), {"active": False}, format="json").status_code == 200
    api.force_authenticate(world.user("owner"))
    assert api.get(org_url(world)).status_code == 404
    assert api.get(reverse("tenancy-api:membership-list", args=["acme"])).status_code == 404


def test_delete_is_for_platform_operators(world):
    expected = expect(set(), 204)
    expected[SUPERUSER] = 204
    # Each caller but the superuser is refused; the superuser deletes last.
    order = [k for k in expected if k != SUPERUSER] + [SUPERUSER]
    assert_access(world, "delete", org_url, {k: expected[k] for k in order})
    assert not Organization.objects.filter(slug="acme").exists()


def test_list_query_count_is_constant(world, api, django_assert_max_num_queries):
    from tests.support.world import make_org

    for i in range(10):
        make_org(f"extra-{i}", world.superuser)
    api.force_authenticate(world.superuser)
    with django_assert_max_num_queries(3):
        response = api.get(reverse("tenancy-api:organization-list"))
    assert response.data["count"] == 12
