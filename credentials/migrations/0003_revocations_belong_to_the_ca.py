"""Revoked Nebula certificates belong to the CA that signed them, so deleting a network no longer takes its
revocations (and with them the blocklist entries the CA's other networks still need)."""

import django.db.models.deletion
from django.db import migrations, models


def fill_ca(apps, schema_editor):
    RevokedCertificate = apps.get_model("credentials", "RevokedCertificate")
    for revocation in RevokedCertificate.objects.select_related("network").iterator():
        revocation.ca_id = revocation.network.ca_id
        revocation.save(update_fields=["ca"])


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0002_nebula"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="revokedcertificate",
            name="nebula_revoked_unique_fingerprint",
        ),
        migrations.AddField(
            model_name="revokedcertificate",
            name="ca",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="revocations",
                to="credentials.certificateauthority",
            ),
        ),
        migrations.RunPython(fill_ca, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="revokedcertificate",
            name="ca",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="revocations",
                to="credentials.certificateauthority",
            ),
        ),
        migrations.AlterField(
            model_name="revokedcertificate",
            name="network",
            field=models.ForeignKey(
                blank=True,
                help_text="The network the host was in (empty once that network is deleted).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="revocations",
                to="credentials.network",
            ),
        ),
        migrations.AddConstraint(
            model_name="revokedcertificate",
            constraint=models.UniqueConstraint(
                fields=("ca", "fingerprint"), name="nebula_revoked_unique_ca_fingerprint"
            ),
        ),
    ]
