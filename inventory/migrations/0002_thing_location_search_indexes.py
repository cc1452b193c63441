"""Trigram indexes for the `search` of the things and locations lists on PostgreSQL (see
stoneage.search_indexes): at 100,000 things a search reads the few matching rows, not all of them."""

from django.db import migrations

from stoneage.search_indexes import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_things_types_locations_floorplans"),
    ]

    operations = [
        # ThingViewSet.search_fields
        trigram_indexes(
            "inventory_thing",
            {"inventory_thing_search_code": '"code"::text', "inventory_thing_search_name": '"name"::text'},
        ),
        # LocationViewSet.search_fields
        trigram_indexes(
            "inventory_location",
            {"inventory_location_search_code": '"code"::text', "inventory_location_search_name": '"name"::text'},
        ),
    ]
