"""Owner rules and invitation acceptance hold when two requests race (PostgreSQL locks; SQLite serializes)."""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from tenancy import services
from tenancy.models import Membership
from tests.support.world import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def race(*actions) -> list[str]:
    barrier = threading.Barrier(len(actions))
    results = []

    def run(action):
        try:
            barrier.wait()
            action()
            results.append("ok")
        except (PermissionDenied, ValidationError, services.InvitationGone) as exc:
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


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
