import uuid

import pytest
from django.urls import reverse

from tenancy.models import Membership
from tenancy.roles import ALL_ROLES, MANAGERS, Role
from tests.support.authz import assert_access, expect
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def list_url(world):
    return reverse("tenancy-api:membership-list", args=[world.org.slug])


def detail_url(membership):
    return reverse("tenancy-api:membership-detail", args=[membership.organization.slug, membership.pk])


def fresh_member(world, role=Role.MEMBER):
    user = make_user(f"temp-{uuid.uuid4().hex[:8]}")
    return Membership.objects.create(user=user, organization=world.org, role=role)


def test_list_access(world):
    assert_access(world, "get", list_url, expect(ALL_ROLES, 200))


def test_retrieve_access(world):
    membership = Membership.objects.get(user=world.user("member"))
    assert_access(world, "get", lambda w: detail_url(membership), expect(ALL_ROLES, 200))


def test_outsider_gets_404_on_foreign_object_even_through_own_org(world, api):
    foreign = Membership.objects.get(user=world.outsider)
    api.force_authenticate(world.user("owner"))
    url = reverse("tenancy-api:membership-detail", args=["acme", foreign.pk])
    assert api.get(url).status_code == 404


def test_add_member_access(world):
    counter = iter(range(100))

    def data(w):
        return {"email": make_user(f"new{next(counter)}").email, "role": "viewer"}

    assert_access(world, "post", list_url, expect(MANAGERS, 201), data_for=data)


def test_add_member_requires_existing_user(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), {"email": "nobody@example.com"}, format="json")
    assert response.status_code == 400
    assert "invitation" in str(response.data["email"])


def test_change_role_access(world):
    assert_access(
        world,
        "patch",
        lambda w: detail_url(fresh_member(w)),
        expect(MANAGERS, 200),
        data_for=lambda w: {"role": "viewer"},
    )


def test_remove_access(world):
    # Removing someone else: managers only. (Members may remove themselves; see test_anyone_can_leave.)
    assert_access(world, "delete", lambda w: detail_url(fresh_member(w)), expect(MANAGERS, 204))


def test_anyone_can_leave(world, api):
    for role in ["admin", "member", "viewer", "auditor"]:
        api.force_authenticate(world.user(role))
        response = api.post(reverse("tenancy-api:membership-leave", args=["acme"]))
        assert response.status_code == 204, role
    assert list(Membership.objects.filter(organization=world.org).values_list("role", flat=True)) == ["owner"]


def test_last_owner_cannot_leave(world, api):
    api.force_authenticate(world.user("owner"))
    response = api.post(reverse("tenancy-api:membership-leave", args=["acme"]))
    assert response.status_code == 400
    assert "last owner" in str(response.data)


def test_last_owner_cannot_be_demoted(world, api):
    api.force_authenticate(world.user("owner"))
    owner_membership = Membership.objects.get(user=world.user("owner"))
    response = api.patch(detail_url(owner_membership), {"role": "admin"}, format="json")
    assert response.status_code == 400
    assert "at least one owner" in str(response.data)


def test_last_owner_cannot_be_removed_by_superuser(world, api):
    api.force_authenticate(world.superuser)
    owner_membership = Membership.objects.get(user=world.user("owner"))
    assert api.delete(detail_url(owner_membership)).status_code == 400
    assert Membership.objects.filter(pk=owner_membership.pk).exists()


def test_owner_can_step_down_when_another_owner_exists(world, api):
    second = fresh_member(world, Role.OWNER)
    api.force_authenticate(world.user("owner"))
    owner_membership = Membership.objects.get(user=world.user("owner"))
    assert api.patch(detail_url(owner_membership), {"role": "admin"}, format="json").status_code == 200
    assert Membership.objects.get(pk=second.pk).role == "owner"


def test_admin_cannot_touch_owners(world, api):
    second_owner = fresh_member(world, Role.OWNER)
    api.force_authenticate(world.user("admin"))
    assert api.patch(detail_url(second_owner), {"role": "member"}, format="json").status_code == 403
    assert api.delete(detail_url(second_owner)).status_code == 403
    member = fresh_member(world)
    assert api.patch(detail_url(member), {"role": "owner"}, format="json").status_code == 403
    assert Membership.objects.get(pk=second_owner.pk).role == "owner"


def test_nobody_raises_their_own_role(world, api):
    for role, wanted in [("admin", "owner"), ("member", "admin"), ("viewer", "member"), ("auditor", "admin")]:
        own = Membership.objects.get(user=world.user(role), organization=world.org)
        api.force_authenticate(world.user(role))
        assert api.patch(detail_url(own), {"role": wanted}, format="json").status_code == 403, role
        assert Membership.objects.get(pk=own.pk).role == role


def test_owner_can_promote_to_owner(world, api):
    member = fresh_member(world)
    api.force_authenticate(world.user("owner"))
    assert api.patch(detail_url(member), {"role": "owner"}, format="json").status_code == 200


def test_unknown_role_is_rejected(world, api):
    api.force_authenticate(world.user("owner"))
    response = api.patch(detail_url(fresh_member(world)), {"role": "god"}, format="json")
    assert response.status_code == 400


def test_list_query_count_is_constant(world, api, django_assert_max_num_queries):
    for _ in range(15):
        fresh_member(world)
    api.force_authenticate(world.user("viewer"))
    with django_assert_max_num_queries(5):
        response = api.get(list_url(world))
    assert response.data["count"] == 20


def test_filter_and_search(world, api):
    api.force_authenticate(world.user("viewer"))
    response = api.get(list_url(world), {"role": "auditor"})
    assert [m["user"]["username"] for m in response.data["results"]] == ["audrey"]
    response = api.get(list_url(world), {"search": "adam"})
    assert [m["role"] for m in response.data["results"]] == ["admin"]
