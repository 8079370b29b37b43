"""Bulk writes of many rows given as plain tuples: set-based SQL on PostgreSQL, the ORM
elsewhere.

Rows are tuples in the order of a list of field names (attnames: ``token_id``, not
``token``), so that a refresh of 20,000 tokens never builds 20,000 model instances.

``upsert_changed`` is the write every fact and snapshot goes through: it inserts new rows
and updates a stored row only when one of its compared values differs, so a repeated
refresh writes nothing. On PostgreSQL the comparison is made by the database itself
(``ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM``), with the rows sent by COPY into a
scratch table when there are many; elsewhere (the embedded SQLite default) the stored rows
are read and compared in Python. Both give the same result (tests/tokens/test_bulk.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import psycopg
from django.db import connection, models, transaction

COPY_MIN_ROWS = 500
ORM_BATCH = 2000


def _column(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name).column


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    return [_column(model, name) for name in names]


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(connection.ops.quote_name(name) for name in names)


def _scratch(cursor, model: type[models.Model], columns: Sequence[str]) -> str:
    """An empty scratch table shaped like those columns of the model's table; its name. The
    table is dropped at commit, so nothing outlives the transaction (PgBouncer's transaction
    pooling may give the session to another client next); this must run inside one, as
    every caller's write does (in autocommit the table would be gone before its first use)."""
    table = model._meta.db_table
    digest = hashlib.blake2s(",".join(columns).encode(), digest_size=4).hexdigest()
    scratch = f"scratch_{table}_{digest}"
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS SELECT {_quoted(columns)} FROM {table}"
        " WITH NO DATA"
    )
    cursor.execute(f"TRUNCATE {scratch}")
    return scratch


def copy_into_scratch(cursor, model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple]) -> str:
    """COPY ``rows`` (tuples in ``columns`` order) into a scratch table (``_scratch``); its name."""
    scratch = _scratch(cursor, model, columns)
    with cursor.cursor.copy(f"COPY {scratch} ({_quoted(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return scratch


def upsert_changed(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[tuple],
    *,
    unique_fields: Sequence[str],
    compare_fields: Sequence[str],
    update_fields: Sequence[str] | None = None,
    not_older: str | None = None,
    scope: dict | None = None,
) -> list[tuple]:
    """Insert rows that are new; update a stored row only when one of ``compare_fields``
    differs (then ``update_fields``, by default every field but the unique ones, are
    written). ``not_older``: a field whose stored value wins when it is newer (today's price
    comes from quotes and from the daily chart: the later observation stands). ``scope``: a
    filter every row falls within (``{"date__in": days}``); when a large batch finds nothing
    stored in it (a day's first refresh), the rows are all new and go straight in
    (``insert_new``: should another writer store one meanwhile, that fails rather than
    merges). Returns the unique key of every row written, as tuples in ``unique_fields`` order."""
    if not rows:
        return []
    if scope is not None and len(rows) >= COPY_MIN_ROWS and not model.objects.filter(**scope).exists():
        insert_new(model, fields, rows)
        key_at = [fields.index(f) for f in unique_fields]
        return [tuple(row[i] for i in key_at) for row in rows]
    update_fields = list(update_fields or [f for f in fields if f not in unique_fields])
    if connection.vendor == "postgresql":
        return _upsert_changed_sql(model, fields, rows, unique_fields, compare_fields, update_fields, not_older)
    return _upsert_changed_python(model, fields, rows, unique_fields, compare_fields, update_fields, not_older)


def _upsert_changed_sql(model, fields, rows, unique_fields, compare_fields, update_fields, not_older) -> list[tuple]:
    table = model._meta.db_table
    columns = _columns(model, fields)
    tail = _on_conflict_update_changed(model, unique_fields, compare_fields, update_fields, not_older)
    cols = _quoted(columns)
    with transaction.atomic(), connection.cursor() as cursor:
        if len(rows) >= COPY_MIN_ROWS:
            scratch = copy_into_scratch(cursor, model, columns, rows)
            cursor.execute(f"INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {scratch} {tail}")
        else:
            values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
            params = [value for row in rows for value in row]
            cursor.execute(f"INSERT INTO {table} AS t ({cols}) VALUES {values} {tail}", params)
        return [tuple(key) for key in cursor.fetchall()]


def upsert_changed_from_select(
    model: type[models.Model],
    fields: Sequence[str],
    select: str,
    params: dict,
    *,
    unique_fields: Sequence[str],
    compare_fields: Sequence[str],
    update_fields: Sequence[str] | None = None,
    scope: str = "",
    on_insert: str = "",
) -> list[tuple]:
    """``upsert_changed`` of the rows a SELECT computes in the database (PostgreSQL only):
    ``select`` gives ``fields`` in order; ``scope``, a condition on the stored rows (alias
    ``t``) that every computed row meets (``t.date = %(day)s``), keeps the comparison to
    them. The rows land in a scratch table, then one UPDATE writes the stored rows that
    differ and one INSERT the missing ones: unlike ``ON CONFLICT``, a row found unchanged
    is neither written nor locked; with nothing stored in ``scope``, the SELECT is inserted
    directly. A row another transaction inserts meanwhile makes the INSERT fail
    (IntegrityError), not merge. ``on_insert``: a statement run in the same statement as each
    INSERT, over the rows it adds as ``inserted`` (their ``id`` and unique fields), as a
    pointer to the newest row is moved. Returns the unique key of every row written."""
    update_fields = list(update_fields or [f for f in fields if f not in unique_fields])
    table = model._meta.db_table
    columns = _columns(model, fields)
    cols = _quoted(columns)
    unique = _columns(model, unique_fields)
    same_key = " AND ".join(f"t.{c} = s.{c}" for c in unique)
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in _columns(model, compare_fields))
    scoped = f" AND {scope}" if scope else ""
    keys = ", ".join(f"t.{c}" for c in unique)

    def insert(rows: str) -> str:
        if not on_insert:
            return f"INSERT INTO {table} AS t ({cols}) {rows} RETURNING {keys}"
        return (
            f"WITH inserted AS (INSERT INTO {table} AS t ({cols}) {rows} RETURNING t.id, {keys}),"
            f" followed AS ({on_insert}) SELECT {', '.join(unique)} FROM inserted"
        )

    with transaction.atomic(), connection.cursor() as cursor:
        if scope:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} AS t WHERE {scope})", params)
            if not cursor.fetchone()[0]:  # nothing stored in scope (a day's first reprice): all new
                cursor.execute(insert(select), params)
                return [tuple(key) for key in cursor.fetchall()]
        scratch = _scratch(cursor, model, columns)
        cursor.execute(f"INSERT INTO {scratch} ({cols}) {select}", params)
        cursor.execute(
            f"UPDATE {table} AS t SET "
            + ", ".join(f"{c} = s.{c}" for c in _columns(model, update_fields))
            + f" FROM {scratch} AS s WHERE {same_key}{scoped} AND ({changed}) RETURNING {keys}",
            params,
        )
        written = [tuple(key) for key in cursor.fetchall()]
        cursor.execute(
            insert(
                f"SELECT {cols} FROM {scratch} AS s WHERE NOT EXISTS (SELECT 1 FROM {table} AS t"
                f" WHERE {same_key}{scoped})"
            ),
            params,
        )
        return written + [tuple(key) for key in cursor.fetchall()]


def _on_conflict_update_changed(model, unique_fields, compare_fields, update_fields, not_older) -> str:
    unique = _columns(model, unique_fields)
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in _columns(model, compare_fields))
    condition = f"({changed})"
    if not_older:
        column = _column(model, not_older)
        condition += f" AND EXCLUDED.{column} >= t.{column}"
    return (
        f"ON CONFLICT ({_quoted(unique)}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in _columns(model, update_fields))
        + f" WHERE {condition} RETURNING {', '.join(f't.{c}' for c in unique)}"
    )


def _upsert_changed_python(model, fields, rows, unique_fields, compare_fields, update_fields, not_older) -> list[tuple]:
    key_at = [fields.index(f) for f in unique_fields]
    compare_at = [fields.index(f) for f in compare_fields]
    lookup = {
        f"{model._meta.get_field(f).attname}__in": {row[i] for row in rows}
        for f, i in zip(unique_fields, key_at, strict=True)
    }
    stored_fields = [model._meta.get_field(f).attname for f in (*unique_fields, *compare_fields)]
    extra = [not_older] if not_older else []
    stored = {
        tuple(values[: len(unique_fields)]): values[len(unique_fields) :]
        for values in model.objects.filter(**lookup).values_list(*stored_fields, *extra)
    }
    written = []
    for row in rows:
        key = tuple(row[i] for i in key_at)
        old = stored.get(key)
        if old is not None:
            if tuple(old[: len(compare_at)]) == tuple(row[i] for i in compare_at):
                continue
            if not_older and row[fields.index(not_older)] < old[-1]:
                continue
        written.append(row)
    model.objects.bulk_create(
        [model(**dict(zip(fields, row, strict=True))) for row in written],
        update_conflicts=True,
        unique_fields=[model._meta.get_field(f).name for f in unique_fields],
        update_fields=[model._meta.get_field(f).name for f in update_fields],
        batch_size=ORM_BATCH,
    )
    return [tuple(row[i] for i in key_at) for row in written]


def insert_new(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple]) -> int:
    """Insert rows known to be new, by COPY straight into the table on PostgreSQL (the ORM's
    bulk_create elsewhere); how many. A row that turns out to exist raises IntegrityError."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=ORM_BATCH)
        return len(rows)
    cols = _quoted(_columns(model, fields))
    types = _binary_types(model, fields)
    binary = " (FORMAT BINARY)" if types else ""
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {model._meta.db_table} ({cols}) FROM STDIN{binary}") as copy,
    ):
        if types:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)
    return len(rows)


# Column types whose Python values psycopg writes in PostgreSQL's binary format as they are
# (a third faster than text for Decimals and datetimes); any other column keeps COPY to text.
_BINARY_COPY_TYPES = {"int2", "int4", "int8", "numeric", "date", "timestamptz", "varchar", "text", "bool"}


def _binary_types(model: type[models.Model], fields: Sequence[str]) -> list[str] | None:
    names = []
    for name in fields:
        info = psycopg.adapters.types.get(model._meta.get_field(name).db_type(connection).split("(")[0].strip())
        if info is None or info.name not in _BINARY_COPY_TYPES:
            return None
        names.append(info.name)
    return names


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple]) -> int:
    """UPDATE existing rows matched on primary key; ``fields[0]`` is the key."""
    if not rows:
        return 0
    rest = fields[1:]
    if connection.vendor != "postgresql" or len(rows) < COPY_MIN_ROWS:
        instances = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        model.objects.bulk_update(instances, [model._meta.get_field(f).name for f in rest], batch_size=ORM_BATCH)
        return len(rows)
    columns = _columns(model, fields)
    key = columns[0]
    sets = ", ".join(f"{c} = s.{c}" for c in columns[1:])
    with transaction.atomic(), connection.cursor() as cursor:
        scratch = copy_into_scratch(cursor, model, columns, rows)
        cursor.execute(f"UPDATE {model._meta.db_table} AS t SET {sets} FROM {scratch} AS s WHERE t.{key} = s.{key}")
    return len(rows)
