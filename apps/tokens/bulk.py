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
from django.core.exceptions import EmptyResultSet
from django.db import connection, models, transaction
from django.db.models import Lookup

COPY_MIN_ROWS = 500
ORM_BATCH = 2000


class AnyOf(Lookup):
    """``field__any=ids``: ``= ANY(%s::bigint[])`` with the ids as one array literal on
    PostgreSQL (an ``IN`` list elsewhere). Thousands of ids in an ``IN`` list, or even as a
    list psycopg adapts id by id, cost the refresh more CPU than the query (bench/README.md).
    Pass a set or a ``frozenset`` for thousands: Django walks a list's items one by one."""

    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [int(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*params, "{" + ",".join(map(str, self.rhs)) + "}"]
        if not self.rhs:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*params, *self.rhs]


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
    _copy(cursor, scratch, model, columns, rows)
    return scratch


def _copy(cursor, table: str, model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """COPY rows into ``table``, in PostgreSQL's binary format where psycopg writes every
    column's values as they are (a third faster than text for Decimals and datetimes)."""
    types = _binary_types(model, columns)
    binary = " (FORMAT BINARY)" if types else ""
    with cursor.cursor.copy(f"COPY {table} ({_quoted(columns)}) FROM STDIN{binary}") as copy:
        if types:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


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
    with transaction.atomic(), connection.cursor() as cursor:
        _copy(cursor, model._meta.db_table, model, _columns(model, fields), rows)
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
