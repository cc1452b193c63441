"""MQTT passwords for things.

nats-server lets an MQTT client authenticate with a user JWT in the CONNECT password, but an MQTT client cannot
sign the server's nonce, so the JWT must be a *bearer* JWT (nats-server skips the nonce signature only for those).
A thing's own JWT is issued by its type's scoped signing key and may carry no permissions or flags of its own, so
it cannot be bearer. Its MQTT password is therefore a second JWT for the same key:

- bearer, and valid on MQTT connections only (`allowed_connection_types: ["MQTT"]`): stolen, it opens no NATS,
  websocket or leaf connection;
- issued by the account's unscoped signing key with the thing's contract expanded for it (the subjects its type's
  scope grants it, as nats-server would expand them), so it publishes and subscribes within its contract;
- short-lived (`MQTT_JWT_LIFETIME`, default one hour): a contract change reaches MQTT clients at their next
  password, while NATS clients follow it at once;
- revoked with the thing: its subject is the thing's key, so deactivating the thing revokes it too.

The device fetches it with its own nkey (`POST /api/v1/devices/mqtt-password/`); each issue is audited.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from credentials.codecs import natsjwt as nj
from credentials.models import Account, NatsUser
from credentials.services import nats as nats_svc

MQTT = "MQTT"


def lifetime() -> int:
    return int(getattr(settings, "MQTT_JWT_LIFETIME", 3600))


@transaction.atomic
def mqtt_password(user: NatsUser) -> tuple[str, int]:
    """A bearer JWT for MQTT connections of the thing whose NATS user this is: (jwt, expiry in unix seconds)."""
    account = nats_svc.lock_account(user.account_id)
    user = NatsUser.objects.select_for_update().get(pk=user.pk)
    if not user.active:
        raise ValidationError("This device is deactivated.")
    if user.owner_kind != NatsUser.OwnerKind.THING:
        raise ValidationError("MQTT passwords are for things.")
    permissions = nats_svc.effective_permissions(user)
    cutoff = int((account.revocations or {}).get(user.public_key, 0))
    iat = max(nats_svc.now(), cutoff + 1)
    expires = iat + lifetime()
    claims = nj.UserClaims(
        subject=user.public_key,
        name=user.name,
        expires=expires,
        pub_allow=permissions.pub_allow,
        pub_deny=permissions.pub_deny,
        sub_allow=permissions.sub_allow,
        sub_deny=permissions.sub_deny,
        bearer_token=True,
        allowed_connection_types=[MQTT],
        issuer_account=account.public_key,
        tags=user.tags,
    )
    key = nats_svc.newest_signing_key(nats_svc.unscoped_signing_keys(Account.objects.get(pk=account.pk)))
    jwt = nj.encode(claims, nats_svc.keypair_of(key), iat=iat)
    if user.key_jwts_expire_by is not None and expires > user.key_jwts_expire_by:
        # A revocation of this key must outlast this JWT too (`credentials.services.nats.revoke_keys`).
        NatsUser.objects.filter(pk=user.pk).update(key_jwts_expire_by=expires)
    return jwt, expires
