import re
import uuid

import pytest
import yaml
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


def test_members_are_never_added_only_invited(world):
    counter = iter(range(100))

    def data(w):
        return {"email": make_user(f"new{next(counter)}").email, "role": "viewer"}

    assert_access(world, "post", list_url, expect(MANAGERS, 405), data_for=data)
    assert Membership.objects.filter(user__username__startswith="new").count() == 0


def test_adding_answers_alike_whether_or_not_the_address_has_an_account(world, api):
    make_user("nina", email="nina@example.com")
    api.force_authenticate(world.user("admin"))
    known = api.post(list_url(world), {"email": "nina@example.com"}, format="json")
    unknown = api.post(list_url(world), {"email": "nobody@example.com"}, format="json")
    assert (known.status_code, known.data) == (unknown.status_code, unknown.data)
    assert Membership.objects.filter(organization=world.org).count() == 5


def test_the_schema_offers_no_way_to_add_members(world, api):
    api.force_authenticate(world.user("viewer"))
    schema = yaml.safe_load(api.get("/api/schema/").content)
    assert list(schema["paths"]["/api/v1/orgs/{org_slug}/memberships/"]) == ["get"]
    assert "email" not in schema["components"]["schemas"]["Membership"]["properties"]
    assert "post" in schema["paths"]["/api/v1/orgs/{org_slug}/invitations/"]


def test_the_refusal_to_add_points_to_invitations(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), {"email": world.outsider.email}, format="json")
    assert response.status_code == 405
    assert "/api/v1/orgs/acme/invitations/" in response.data["detail"]


def invite(api, world, email):
    response = api.post(
        reverse("tenancy-api:invitation-list", args=[world.org.slug]), {"email": email, "role": "viewer"}, format="json"
    )
    masked = {**response.data}
    for key in ("id", "created", "expires_at"):
        masked[key] = "<varies>"
    masked["email"] = masked["email"].replace(email, "<email>")
    return response.status_code, masked


def test_inviting_answers_alike_whether_or_not_the_address_has_an_account(
    world, api, mailoutbox, django_capture_on_commit_callbacks
):
    known = make_user("nina", email="nina@example.com")  # has an account, not a member here
    api.force_authenticate(world.user("admin"))
    with django_capture_on_commit_callbacks(execute=True):
        answers = [invite(api, world, email) for email in ("nina@example.com", "nobody@example.com")]
        # A member of another organization is, to this organization's admin, just an address.
        answers.append(invite(api, world, world.outsider.email))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 201
    assert len(mailoutbox) == 3
    # Nobody joins until they accept; then the person with the account does.
    assert not Membership.objects.filter(user__in=[known, world.outsider], organization=world.org).exists()
    token = re.search(r"token=([\w-]+)", mailoutbox[0].body).group(1)
    api.force_authenticate(known)
    assert api.post(reverse("tenancy-api:accept-invitation"), {"token": token}, format="json").status_code == 201
    assert Membership.objects.get(user=known, organization=world.org).role == "viewer"


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
