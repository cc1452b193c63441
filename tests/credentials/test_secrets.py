"""Secrets at rest: each ciphertext opens only in its own row and column; key rotation; the re-sealing of values
bound to their column only."""

import importlib
import inspect
import io

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from credentials import secrets
from credentials.codecs import natsjwt as nj
from credentials.models import AccountSigningKey, CertificateAuthority, NatsUser
from credentials.services import nats as svc
from credentials.services import nebula as nebula_svc
from tests.credentials.nats_support import account_of, make_nats_user, parse_creds, reload

pytestmark = pytest.mark.django_db

resealing = importlib.import_module("credentials.migrations.0005_user_jwt_lifetimes_and_row_bound_secrets")


def sealed(obj, name: str) -> str:
    return type(obj)._base_manager.values_list(name, flat=True).get(pk=obj.pk)


def test_a_secret_copied_into_another_row_of_its_column_does_not_open(world):
    mine, theirs = make_nats_user(world.org), make_nats_user(world.other_org)
    NatsUser.objects.filter(pk=mine.pk).update(seed=sealed(theirs, "seed"))
    with pytest.raises(secrets.SecretError) as caught:
        secrets.reveal(reload(mine), "seed")
    assert str(caught.value) == (
        f"credentials.natsuser.seed#{mine.pk}: the stored secret does not open here: it was sealed for another "
        "row or column, or altered."
    )
    assert nj.keypair_from_seed(secrets.reveal(reload(theirs), "seed")).public_key == theirs.public_key


def test_a_ca_key_copied_into_another_organizations_ca_does_not_open(world):
    ours, theirs = (CertificateAuthority.objects.get(organization=o) for o in (world.org, world.other_org))
    CertificateAuthority.objects.filter(pk=ours.pk).update(key=sealed(theirs, "key"))
    with pytest.raises(secrets.SecretError, match="sealed for another row or column"):
        secrets.reveal(reload(ours), "key")


def test_a_secret_copied_into_another_column_does_not_open(world):
    user = make_nats_user(world.org)
    key = AccountSigningKey.objects.filter(account=account_of(world.org)).first()
    AccountSigningKey.objects.filter(pk=key.pk).update(seed=sealed(user, "seed"))
    with pytest.raises(secrets.SecretError, match=rf"credentials.accountsigningkey.seed#{key.pk}: .* another row"):
        secrets.reveal(reload(key), "seed")


def test_a_new_row_is_sealed_for_the_primary_key_it_got(world):
    user = make_nats_user(world.org)
    token = sealed(user, "seed")
    assert token.startswith(f"{secrets.VERSION}:")
    seed = secrets.decrypt(token, f"credentials.natsuser.seed#{user.pk}")
    assert nj.keypair_from_seed(seed).public_key == user.public_key
    assert secrets.reveal(user, "seed") == seed == secrets.reveal(reload(user), "seed")


@pytest.mark.django_db(transaction=True)
def test_a_new_row_and_its_secret_commit_together(monkeypatch):
    """Sealed once the row has its primary key, in the transaction of the INSERT: never a row without it."""
    svc.bootstrap()
    kp = nj.create_keypair(nj.ACCOUNT)
    key = AccountSigningKey(account=svc.system_account(), public_key=kp.public_key)
    secrets.seal(key, "seed", kp.seed)
    with monkeypatch.context() as patch:
        patch.setattr(secrets, "encrypt", lambda *args, **kwargs: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            key.save()
    assert not AccountSigningKey.objects.filter(public_key=kp.public_key).exists()
    key.pk = None
    key.save()
    assert secrets.reveal(reload(key), "seed") == kp.seed


def test_rotate_secrets_reseals_every_row_under_the_new_key(world, settings):
    make_nats_user(world.org)
    old = settings.STONEAGE_SECRET_KEYS[0]
    new = secrets.generate_key()
    settings.STONEAGE_SECRET_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    count = sum(f.model._base_manager.exclude(**{f.attname: ""}).count() for f in secrets.encrypted_fields())
    assert f"Re-encrypted {count} secret(s) under key {secrets.primary_key_id()}" in out.getvalue()

    settings.STONEAGE_SECRET_KEYS = [new]  # the old key is gone: everything still opens
    for field in secrets.encrypted_fields():
        for obj in field.model._base_manager.exclude(**{field.attname: ""}):
            assert secrets.key_id_of(getattr(obj, field.attname)) == secrets.primary_key_id()
            assert secrets.reveal(obj, field.name)
    user = NatsUser.objects.filter(organization=world.org).first()
    assert parse_creds(svc.user_creds(user))[1] == secrets.reveal(reload(user), "seed")


def test_rotate_secrets_names_the_row_it_cannot_open(world, settings):
    mine, theirs = make_nats_user(world.org), make_nats_user(world.org)
    NatsUser.objects.filter(pk=mine.pk).update(seed=sealed(theirs, "seed"))
    settings.STONEAGE_SECRET_KEYS = [secrets.generate_key(), *settings.STONEAGE_SECRET_KEYS]
    with pytest.raises(CommandError, match=rf"credentials.natsuser.seed#{mine.pk}: .* sealed for another row"):
        call_command("rotate_secrets", stdout=io.StringIO())


def test_the_migration_binds_column_bound_secrets_to_their_rows(world):
    user = make_nats_user(world.org)
    seed = secrets.reveal(user, "seed")
    legacy = secrets.encrypt(seed, "credentials.natsuser.seed", version=secrets.COLUMN_BOUND_VERSION)
    NatsUser.objects.filter(pk=user.pk).update(seed=legacy)
    with pytest.raises(secrets.SecretError, match="bound to its column only .* run `manage.py migrate`"):
        secrets.reveal(reload(user), "seed")
    with pytest.raises(CommandError, match="run `manage.py migrate`"):
        call_command("rotate_secrets", stdout=io.StringIO())

    resealing.bind_secrets_to_rows(apps, None)
    assert sealed(user, "seed").startswith(f"{secrets.VERSION}:")
    assert secrets.reveal(reload(user), "seed") == seed

    resealing.bind_secrets_to_columns(apps, None)  # the way back
    token = sealed(user, "seed")
    assert secrets.decrypt(token, "credentials.natsuser.seed", version=secrets.COLUMN_BOUND_VERSION) == seed


def test_no_decrypted_secret_is_cached_process_wide():
    """Only the keys are cached (`_load_keys`); a cache of opened values would keep seeds in memory."""
    cached = [
        f"{module.__name__}.{name}"
        for module in (secrets, svc, nebula_svc)
        for name, member in inspect.getmembers(module, callable)
        if hasattr(member, "cache_info") and getattr(member, "__module__", "") == module.__name__
    ]
    assert cached == ["credentials.secrets._load_keys"]
