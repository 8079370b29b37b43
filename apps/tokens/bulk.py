"""Bulk writes of many rows: COPY on PostgreSQL for large batches, the ORM elsewhere.

Django's multi-row INSERT … ON CONFLICT spends most of its time preparing each value in
Python; COPY into a scratch table and one set-based statement does the same write several
times faster, with the same conflict semantics, so concurrent writers stay safe.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models, transaction

COPY_MIN_ROWS = 500
ORM_BATCH = 2000


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in names]


def _copy_into_scratch(cursor, model: type[models.Model], rows: Sequence[models.Model], names: Sequence[str]) -> str:
    """COPY the named fields of ``rows`` into a scratch table shaped like the model's; its name."""
    table = model._meta.db_table
    scratch = f"scratch_{table}"
    columns = ", ".join(_columns(model, names))
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
    )
    cursor.execute(f"TRUNCATE {scratch}")
    attnames = [model._meta.get_field(name).attname for name in names]
    with cursor.cursor.copy(f"COPY {scratch} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([getattr(row, attname) for attname in attnames])
    return scratch


def upsert(
    model: type[models.Model],
    rows: Sequence[models.Model],
    *,
    unique_fields: Sequence[str],
    update_fields: Sequence[str],
) -> int:
    """INSERT … ON CONFLICT (unique_fields) DO UPDATE SET update_fields, for model instances."""
    if not rows:
        return 0
    if connection.vendor != "postgresql" or len(rows) < COPY_MIN_ROWS:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=list(unique_fields),
            update_fields=list(update_fields),
            batch_size=ORM_BATCH,
        )
        return len(rows)
    names = [f.name for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(_columns(model, names))
    conflict = ", ".join(_columns(model, unique_fields))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _columns(model, update_fields))
    with transaction.atomic(), connection.cursor() as cursor:
        scratch = _copy_into_scratch(cursor, model, rows, names)
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {columns} FROM {scratch} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
    return len(rows)


def update(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]) -> int:
    """UPDATE the named fields of existing rows, matched on primary key."""
    if not rows:
        return 0
    if connection.vendor != "postgresql" or len(rows) < COPY_MIN_ROWS:
        model.objects.bulk_update(rows, list(fields), batch_size=ORM_BATCH)
        return len(rows)
    pk = model._meta.pk
    sets = ", ".join(f"{c} = s.{c}" for c in _columns(model, fields))
    with transaction.atomic(), connection.cursor() as cursor:
        scratch = _copy_into_scratch(cursor, model, rows, [pk.name, *fields])
        cursor.execute(
            f"UPDATE {model._meta.db_table} AS t SET {sets} FROM {scratch} AS s WHERE t.{pk.column} = s.{pk.column}"
        )
    return len(rows)
