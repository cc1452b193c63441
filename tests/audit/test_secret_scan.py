"""The secret scan that runs after every database test (tests/support/secret_scan.py) really finds leaks."""

import pytest
from django.db import transaction

from audit.services import write_event
from tenancy import services
from tests.support.secret_scan import find_secrets

pytestmark = pytest.mark.django_db

LEAKS = {
    "nkey seed": "SUAM" + "K" * 54,
    "nkey private key": "P" + "Q" * 102,
    "private key": "-----BEGIN NEBULA X25519 PRIVATE KEY-----",
    ".creds file": "-----BEGIN NATS USER JWT-----",
    "API token": "sat_0a1b2c3d_Zm9vYmFy",
}


class Rollback(Exception):
    pass


def test_a_clean_log_passes(world):
    assert find_secrets() == []


def test_each_kind_of_leak_is_found_and_named(world):
    invitation, _ = services.invite(
        organization=world.org, email="x@example.com", role="member", acting_user=world.user("owner")
    )
    with pytest.raises(Rollback), transaction.atomic():
        planted = {
            kind: write_event("credential_read", organization_id=world.org.pk, extra={"detail": text}).pk
            for kind, text in LEAKS.items()
        }
        planted["password"] = write_event("update", after={"password": "md5$salt$0123"}).pk
        planted["hash"] = write_event("login", extra={"note": invitation.token_hash}).pk
        findings = find_secrets()
        raise Rollback
    for kind, pk in planted.items():
        if kind in LEAKS:
            assert f"event {pk} (credential_read) holds a {kind}" in findings
    assert f"event {planted['password']} (update) holds an unredacted password" in findings
    assert f"event {planted['hash']} (login) holds a stored secret hash" in findings
    assert find_secrets() == []


def test_public_keys_are_not_mistaken_for_seeds(world):
    with pytest.raises(Rollback), transaction.atomic():
        public_key = "UAB" + "SU" + "A" * 51  # a 56-character user public key with "SU" inside it
        write_event("credential_read", organization_id=world.org.pk, extra={"public_key": public_key})
        findings = find_secrets()
        raise Rollback
    assert findings == []
