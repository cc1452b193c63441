"""Owner rules and invitation acceptance hold when two requests race (PostgreSQL locks; SQLite serializes)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from tenancy import services
from tenancy.models import Membership
from tests.support.concurrency import race as support_race
from tests.support.world import make_user

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def race(*actions) -> list[str]:
    return support_race(*actions, expected=(PermissionDenied, ValidationError, services.InvitationGone))


@pytest.mark.parametrize("first, second", [("leave", "leave"), ("leave", "demote"), ("demote", "demote")])
def test_two_owners_stepping_down_at_once_leave_one_owner(world, first, second):
    Membership.objects.filter(user=world.user("admin"), organization=world.org).update(role="owner")

    def step_down(role: str, how: str):
        user = world.user(role)
        membership = Membership.objects.get(user=user, organization=world.org)
        if how == "leave":
            return lambda: services.remove_member(membership=membership, acting_user=user)
        return lambda: services.change_role(membership=membership, role="member", acting_user=user)

    assert race(step_down("owner", first), step_down("admin", second)) == ["ValidationError", "ok"]
    assert Membership.objects.filter(organization=world.org, role="owner").count() == 1


def test_an_invitation_accepted_twice_at_once_makes_one_membership(world):
    user = make_user("newcomer", email="newcomer@example.com")
    _, token = services.invite(
        organization=world.org, email="NewComer@Example.com", role="viewer", acting_user=world.user("admin")
    )
    accept = lambda: services.accept_invitation(token=token, user=user)  # noqa: E731
    assert race(accept, accept) == ["InvitationGone", "ok"]
    assert Membership.objects.filter(user=user, organization=world.org).count() == 1


def test_an_invitation_used_for_two_sign_ups_at_once_makes_one_account(world):
    _, token = services.invite(
        organization=world.org, email="twice@example.com", role="viewer", acting_user=world.user("admin")
    )

    def sign_up(username: str):
        return lambda: services.sign_up_with_invitation(token=token, username=username, password="granite orbit 42")

    assert race(sign_up("first"), sign_up("second")) == ["InvitationGone", "ok"]
    assert User.objects.filter(email="twice@example.com").count() == 1
    assert Membership.objects.filter(user__email="twice@example.com", organization=world.org).count() == 1


def test_a_sign_up_racing_a_revocation_either_joins_or_makes_no_account(world):
    invitation, token = services.invite(
        organization=world.org, email="racing@example.com", role="viewer", acting_user=world.user("admin")
    )
    sign_up = lambda: services.sign_up_with_invitation(token=token, username="racer", password="granite orbit 42")  # noqa: E731
    revoke = lambda: services.revoke_invitation(invitation=invitation, acting_user=world.user("admin"))  # noqa: E731
    results = race(sign_up, revoke)
    invitation.refresh_from_db()
    if invitation.is_accepted:  # the sign-up went first: the revocation is refused
        assert results == ["ValidationError", "ok"]
        assert Membership.objects.filter(user__username="racer").exists()
    else:
        assert results == ["InvitationGone", "ok"]
        assert invitation.is_revoked and not User.objects.filter(username="racer").exists()
