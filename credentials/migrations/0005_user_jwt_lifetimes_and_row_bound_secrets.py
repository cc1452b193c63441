"""NATS keys: accounts no longer keep an identity seed (nothing signs with it); user JWTs expire, and what a
revocation must outlast is recorded so that it can be pruned; every sealed secret is bound to its row."""

import base64
import binascii
import json

from django.db import migrations, models

from credentials import secrets


def _payload(jwt: str) -> dict:
    try:
        part = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}


def fill_jwt_exp(apps, schema_editor):
    """The expiry of each stored JWT. What every earlier JWT of a key expires by is unknown, so
    `key_jwts_expire_by` stays empty: revocations of these keys are kept."""
    NatsUser = apps.get_model("credentials", "NatsUser")
    for pk, jwt in NatsUser.objects.exclude(jwt="").values_list("pk", "jwt").iterator():
        exp = _payload(jwt).get("exp")
        if isinstance(exp, int) and exp > 0:
            NatsUser.objects.filter(pk=pk).update(jwt_exp=exp)


def _sealed_columns(apps):
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, secrets.EncryptedSecretField):
                yield model, field


def _reseal(apps, source: str, target: str) -> None:
    for model, field in _sealed_columns(apps):
        label = model._meta.label_lower
        column_bound = f"{label}.{field.name}"
        rows = model._base_manager.filter(**{f"{field.attname}__startswith": f"{source}:"})
        for pk, token in rows.values_list("pk", field.attname).iterator():
            row_bound = secrets.associated_data(label, field.name, pk)
            associated = {secrets.COLUMN_BOUND_VERSION: column_bound, secrets.VERSION: row_bound}
            plaintext = secrets.decrypt(token, associated[source], version=source)
            sealed = secrets.encrypt(plaintext, associated[target], version=target)
            model._base_manager.filter(pk=pk).update(**{field.attname: sealed})


def bind_secrets_to_rows(apps, schema_editor):
    _reseal(apps, secrets.COLUMN_BOUND_VERSION, secrets.VERSION)


def bind_secrets_to_columns(apps, schema_editor):
    _reseal(apps, secrets.VERSION, secrets.COLUMN_BOUND_VERSION)


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0004_account_suspension_and_push_lease"),
    ]

    operations = [
        migrations.RemoveField(model_name="account", name="seed"),
        migrations.AddField(
            model_name="account",
            name="revocation_expiries",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="natsuser",
            name="jwt_exp",
            field=models.BigIntegerField(default=0, editable=False, help_text="Expiry of `jwt`; 0 = never."),
        ),
        migrations.AddField(
            model_name="natsuser",
            name="key_jwts_expire_by",
            field=models.BigIntegerField(
                default=None,
                editable=False,
                help_text="Every JWT issued for this key expires by then (0 = none issued yet); empty = some never do.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="natsuser",
            name="expires_at",
            field=models.DateTimeField(
                blank=True,
                help_text="No JWT is valid past this; empty = no end date (each JWT still expires after its lifetime).",
                null=True,
            ),
        ),
        migrations.RunPython(fill_jwt_exp, migrations.RunPython.noop),
        migrations.RunPython(bind_secrets_to_rows, bind_secrets_to_columns),
    ]
