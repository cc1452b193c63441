"""Scoped signing keys (a thing type's contract as a `user_scope` of its account) and user tags (what the scope's
template expands per user: `{{tag(thing)}}`)."""

import credentials.models.nats
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0007_list_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountsigningkey",
            name="scope_description",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="accountsigningkey",
            name="scope_role",
            field=models.CharField(blank=True, help_text="Name of the scope (its `role`).", max_length=100),
        ),
        migrations.AddField(
            model_name="accountsigningkey",
            name="scope_template",
            field=models.JSONField(
                blank=True,
                help_text="Permissions of the users this key signs; empty = an unscoped key (its users carry their own).",
                null=True,
                validators=[credentials.models.nats.validate_scope_template],
            ),
        ),
        migrations.AddField(
            model_name="natsuser",
            name="tags",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="`name:value` tags in the JWT; a scoped key's template uses them (`{{tag(name)}}`).",
                validators=[credentials.models.nats.validate_tags],
            ),
        ),
    ]
