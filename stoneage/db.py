"""Database helpers shared by the apps."""

from __future__ import annotations

import functools

from django.db import connections, models, router, transaction


def make_saves_atomic(model: type[models.Model]) -> None:
    """Run every save of `model` in a transaction (a savepoint-free one inside an outer transaction), so that what
    `post_save` receivers write commits with the row: Django's `save_base` sends `post_save` after an
    autocommitted write otherwise. Used by the audit log (the event) and the secrets store (sealing a new row)."""
    save_base = model.save_base
    if getattr(save_base, "saves_atomically", False):
        return

    @functools.wraps(save_base)
    def atomic_save_base(self, *args, using=None, **kwargs):
        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            return save_base(self, *args, using=using, **kwargs)

    atomic_save_base.saves_atomically = True
    model.save_base = atomic_save_base


def reserve_primary_keys(model: type[models.Model], count: int) -> list[int] | None:
    """`count` primary keys taken from the table's sequence, for rows that need theirs before a `bulk_create` (a
    secret bound to its row). PostgreSQL only; None elsewhere (the rows then get theirs at insert)."""
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql" or count <= 0:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]
