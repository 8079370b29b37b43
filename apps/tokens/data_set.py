"""The data set a database holds — the bundled sample or live providers' data — recorded in
the database itself, so pages can say which and the two never mix: the record, the check
every load and refresh makes against it, and emptying the database to start again."""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from .models import Chain, DataSet, DefiLlamaProtocol, SyncRun, Token
from .selectors import data_changed

CLEAR_COMMAND = "python manage.py clear_data"


class DataSetConflict(Exception):
    """Data of one set offered to a database that holds the other."""


def data_set_held() -> str:
    """ "sample", "live", or "" for a database that holds neither yet."""
    return DataSet.objects.values_list("mode", flat=True).first() or ""


def data_set_refusal(*, offered: str) -> str:
    """Why this database refuses data of the ``offered`` set ("sample" or "live"), naming the
    command that clears it; "" when it takes them (it holds that set, or nothing yet)."""
    held = data_set_held()
    if not held or held == offered:
        return ""
    if held == DataSet.Mode.SAMPLE:
        return (
            "This database holds the sample data set (generated figures), so live data is not written into it: "
            f"the two never mix. Empty it with `{CLEAR_COMMAND}`, then refresh."
        )
    return (
        "This database holds live data, so the sample data set is not loaded into it: the two never mix. "
        f"To replace the live data with the sample, empty the database first with `{CLEAR_COMMAND}`."
    )


def _status_changed() -> None:
    data_changed()
    transaction.on_commit(data_changed)  # a page may re-cache before the commit


def data_set_claim(*, mode: str) -> DataSet:
    """Record that this database holds ``mode`` data — called in the transaction of a load's
    or refresh's writes, so the first one that writes records its set — or raise
    DataSetConflict if it holds the other set."""
    data_set, created = DataSet.objects.get_or_create(pk=1, defaults={"mode": mode, "recorded_at": timezone.now()})
    if data_set.mode != mode:
        raise DataSetConflict(data_set_refusal(offered=mode))
    if created:
        _status_changed()
    return data_set


def data_models() -> list[type[models.Model]]:
    """Every model that holds the data set: tokens and whatever hangs off them (facts,
    policies, events, reports, snapshots, ratings, and any later model that points at a
    token, since deleting tokens takes its rows too), chains, DefiLlama's protocols, sync
    runs, the record itself, and the models computed from the data that point at none of
    them and say so (``holds_data_set = True``). Users, API keys and settings are not data sets."""
    found: list[type[models.Model]] = []
    derived = [model for model in apps.get_models() if getattr(model, "holds_data_set", False)]
    pending: list[type[models.Model]] = [Token, Chain, DefiLlamaProtocol, SyncRun, DataSet, *derived]
    while pending:
        model = pending.pop(0)
        if model in found:
            continue
        found.append(model)
        for relation in model._meta.get_fields(include_hidden=True):
            reverse = relation.auto_created and not relation.concrete
            if reverse and (relation.one_to_many or relation.one_to_one) and relation.on_delete is models.CASCADE:
                pending.append(relation.related_model)
        for field in model._meta.local_many_to_many:
            pending.append(field.remote_field.through)
    return found


def data_counts(*, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Rows per data model (verbose plural name), as clearing would delete them."""
    counts: dict[str, int] = {}
    found = data_models()
    for done, model in enumerate(found, start=1):
        counts[str(model._meta.verbose_name_plural)] = model.objects.count()
        if progress:
            progress(done, len(found))
    return counts


def data_clear(*, progress: Callable[[int, int], None] | None = None) -> None:
    """Empty the database of its data set, whichever it is, so either set may be loaded next.

    One flush of the tables (TRUNCATE on PostgreSQL: no row-by-row cascade over millions of
    facts), in one transaction; ``progress(done, total)`` follows its statements."""
    tables = [model._meta.db_table for model in data_models()]
    statements = connection.ops.sql_flush(no_style(), tables)
    with transaction.atomic():
        if connection.vendor == "postgresql":  # called inside a transaction that wrote rows, TRUNCATE
            with connection.cursor() as cursor:  # would find their deferred key checks still pending
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for done, statement in enumerate(statements, start=1):
            with connection.cursor() as cursor:
                cursor.execute(statement)
            if progress:
                progress(done, len(statements))
        _status_changed()
