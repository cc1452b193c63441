"""Indexes of the organization's lists of NATS users and Nebula hosts: one in each list's order (name,
hostname), and on PostgreSQL trigram indexes for the lists' `search` (see stoneage.search_indexes)."""

from django.db import migrations, models

from stoneage.search_indexes import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0006_host_ca_and_rekey"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="natsuser",
            index=models.Index(fields=["organization", "name"], name="natsuser_org_name"),
        ),
        migrations.AddIndex(
            model_name="host",
            index=models.Index(fields=["organization", "hostname"], name="nebula_host_org_hostname"),
        ),
        # NatsUserViewSet.search_fields
        trigram_indexes(
            "credentials_natsuser",
            {
                "natsuser_search_name": '"name"::text',
                "natsuser_search_description": '"description"',
                "natsuser_search_public_key": '"public_key"::text',
            },
        ),
        # HostViewSet.search_fields
        trigram_indexes(
            "credentials_host",
            {
                "nebula_host_search_hostname": '"hostname"::text',
                "nebula_host_search_overlay_ip": 'HOST("overlay_ip")',
                "nebula_host_search_fingerprint": '"fingerprint"::text',
            },
        ),
    ]
