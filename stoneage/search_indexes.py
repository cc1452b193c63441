"""Trigram indexes for the `search` of big lists, on PostgreSQL.

DRF's `SearchFilter` asks `UPPER(column::text) LIKE UPPER('%term%')` of every search field: no B-tree helps
with that, so a search that matches a few rows out of 50,000 read them all. A GIN trigram index (`pg_trgm`)
on each of those expressions turns the search into an index lookup. The expressions must be the ones Django
writes, or PostgreSQL will not use them. Other databases get nothing (they serve small installations).
"""

from __future__ import annotations

from django.db import migrations


def trigram_indexes(table: str, indexes: dict[str, str]) -> migrations.RunPython:
    """A migration operation creating (and on reverse dropping) `{name: expression}` trigram indexes on `table`."""

    def create(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, expression in indexes.items():
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ((UPPER({expression})) gin_trgm_ops)'
            )

    def drop(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for name in indexes:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')

    return migrations.RunPython(create, drop)
