"""Overlay IPs are unique per Nebula CA, not only per network: a host carries its network's CA (`Host.ca`) and
the database refuses a second host of the CA on the same address.

Existing rows: every host gets its network's CA. Networks of one CA that overlap (accepted before) are kept:
their hosts still cannot share an address from now on, and new or changed ranges may no longer overlap. Two
hosts of one CA that already share an address stop the migration, which lists them: one of each pair cannot
work in the mesh anyway. Give it a free address (which re-issues its certificate) or delete it, then migrate
again. Also: revocations record a new reason, a re-key.
"""

import django.db.models.deletion
from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery


def fill_ca(apps, schema_editor):
    Host = apps.get_model("credentials", "Host")
    Network = apps.get_model("credentials", "Network")
    Host.objects.update(ca_id=Subquery(Network.objects.filter(pk=OuterRef("network_id")).values("ca_id")[:1]))
    shared = (
        Host.objects.exclude(overlay_ip=None)
        .values("ca_id", "overlay_ip")
        .annotate(hosts=Count("pk"))
        .filter(hosts__gt=1)
        .order_by("ca_id", "overlay_ip")
    )
    conflicts = []
    for row in shared:
        hosts = Host.objects.filter(ca_id=row["ca_id"], overlay_ip=row["overlay_ip"]).select_related(
            "network", "organization"
        )
        names = ", ".join(f"“{h.hostname}” (id {h.pk}, network “{h.network.name}”)" for h in hosts.order_by("pk"))
        organization = hosts[0].organization.slug
        conflicts.append(f"  organization {organization}, {row['overlay_ip']}: {names}")
    if conflicts:
        raise CommandError(
            "Some Nebula hosts share an overlay IP under one certificate authority, in overlapping networks:\n"
            + "\n".join(conflicts)
            + "\nGive all but one host of each line another address (this re-issues its certificate) or delete "
            "it, then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0005_user_jwt_lifetimes_and_row_bound_secrets"),
    ]

    operations = [
        migrations.AddField(
            model_name="host",
            name="ca",
            field=models.ForeignKey(
                null=True,
                editable=False,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="hosts",
                to="credentials.certificateauthority",
            ),
        ),
        migrations.RunPython(fill_ca, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="host",
            name="ca",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="hosts",
                to="credentials.certificateauthority",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="host",
            name="nebula_host_unique_ip",
        ),
        migrations.AddConstraint(
            model_name="host",
            constraint=models.UniqueConstraint(fields=("ca", "overlay_ip"), name="nebula_host_unique_ca_ip"),
        ),
        migrations.AlterField(
            model_name="revokedcertificate",
            name="reason",
            field=models.CharField(
                choices=[
                    ("deactivated", "Host deactivated"),
                    ("deleted", "Host deleted"),
                    ("superseded", "Re-issued with a different identity"),
                    ("rekeyed", "Re-issued with a new key pair"),
                ],
                max_length=12,
            ),
        ),
    ]
