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


def reserve_primary_keys(model: type[models.Model], count: int) -> list[int]:
    """`count` primary keys for new rows of `model`, taken before the rows are built: rows inserted together refer
    to each other by them, and a secret is sealed for its row's key before the row is inserted. Call it inside
    the transaction that inserts the rows (on SQLite the keys are the ones past the highest handed out, ours
    while the transaction holds the write lock)."""
    if count <= 0:
        return []
    connection = connections[router.db_for_write(model)]
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count]
            )
            return [row[0] for row in cursor.fetchall()]
        if not connection.in_atomic_block:
            raise RuntimeError("reserve_primary_keys needs a transaction")
        quoted = connection.ops.quote_name(table)
        cursor.execute(
            f"SELECT MAX(COALESCE((SELECT MAX({connection.ops.quote_name(column)}) FROM {quoted}), 0), "  # noqa: S608
            "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
            [table],
        )
        start = cursor.fetchone()[0] + 1
    return list(range(start, start + count))


#: Fields whose Python value is what the database stores (no conversion, no `pre_save` of their own).
_PLAIN_TYPES = frozenset(
    {"CharField", "TextField", "BooleanField", "IntegerField", "BigIntegerField", "PositiveIntegerField",
     "PositiveBigIntegerField", "AutoField", "BigAutoField", "SlugField"}
)  # fmt: skip


def _plain(field) -> bool:
    target = field.target_field if field.is_relation else field
    return target.get_internal_type() in _PLAIN_TYPES and type(field).pre_save is models.Field.pre_save


def insert_rows(model: type[models.Model], objs: list, batch_size: int = 1000) -> None:
    """Insert new rows whose primary keys are set (`reserve_primary_keys`): `bulk_create`, or on PostgreSQL the
    same values (every concrete field, prepared by the field as `bulk_create` prepares it) through COPY, several
    times faster for thousands of rows. Like `bulk_create`, it sends no model signals."""
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=batch_size)
        return
    fields = model._meta.concrete_fields
    plain = [_plain(f) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"  # noqa: S608
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for obj in objs:
            copy.write_row(
                [
                    getattr(obj, f.attname) if is_plain else f.get_db_prep_save(f.pre_save(obj, True), connection)
                    for f, is_plain in zip(fields, plain, strict=True)
                ]
            )
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias
