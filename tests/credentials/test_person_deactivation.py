"""Deactivating a person through the domain action deactivates their NATS users in the same transaction."""

import pytest
from django.urls import reverse

from tests.credentials.nats_support import account_of, link_user, membership_of, reload

pytestmark = pytest.mark.django_db


def test_deactivating_a_person_through_the_api_deactivates_their_nats_users(world, api):
    nats_user = link_user(membership_of(world, "member"), publish_allow=["a.>"])
    api.force_authenticate(world.superuser)
    response = api.post(reverse("tenancy-api:user-deactivate", args=[world.user("member").pk]))
    assert response.status_code == 200
    nats_user = reload(nats_user)
    assert nats_user.active is False
    assert nats_user.public_key in account_of(world.org).revocations
