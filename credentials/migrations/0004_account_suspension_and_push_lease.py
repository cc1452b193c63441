"""NATS accounts: a suspension by a platform operator (`suspended`) is kept apart from the organization's own
state, and `active` is derived from both. Account deletions carry the moment from which they may be marked done
(`not_before`), past any update push that was still on its way. A role held by users no longer blocks deleting
its organization (RESTRICT). Import local subjects are validated by the model."""

import django.db.models.deletion
from django.db import migrations, models

import credentials.models.nats


def keep_suspensions(apps, schema_editor):
    # Before, `active` held both facts: an account switched off while its organization is active was suspended.
    Account = apps.get_model("credentials", "Account")
    Account.objects.filter(active=False, is_system=False, organization__active=True).update(suspended=True)


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0003_revocations_belong_to_the_ca"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="push_lease_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="account",
            name="suspended",
            field=models.BooleanField(
                default=False,
                help_text="Set by a platform operator: the account is withdrawn from NATS whatever its "
                "organization's state.",
            ),
        ),
        migrations.AlterField(
            model_name="account",
            name="active",
            field=models.BooleanField(
                default=True,
                editable=False,
                help_text="On NATS: the organization is active and the account is not suspended (derived from both).",
            ),
        ),
        migrations.RunPython(keep_suspensions, migrations.RunPython.noop),
        migrations.AddField(
            model_name="accounttombstone",
            name="not_before",
            field=models.DateTimeField(
                blank=True,
                help_text="Done only by a deletion sent from then on (an update may land until then).",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="accounttombstone",
            name="public_key",
            field=models.CharField(db_index=True, max_length=56),
        ),
        migrations.AlterField(
            model_name="accountimport",
            name="local_subject",
            field=models.CharField(
                blank=True,
                help_text="Remap the imported subject locally (may use $1 …); empty = same subject.",
                max_length=500,
                validators=[credentials.models.nats.validate_subject],
            ),
        ),
        migrations.AlterField(
            model_name="natsuser",
            name="membership",
            field=models.OneToOneField(
                blank=True,
                error_messages={"unique": "This membership is already linked to another NATS user."},
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="nats_user",
                to="tenancy.membership",
            ),
        ),
        migrations.AlterField(
            model_name="natsuser",
            name="role",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="users",
                to="credentials.natsrole",
            ),
        ),
    ]
