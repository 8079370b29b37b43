"""Run a refresh in the foreground, with a progress bar: the same services as the workers,
and what follows them (the ratings of the changed tokens), so it leaves the state they do.

It holds the same single-flight locks as the workers' refresh tasks: while a worker runs one
of the requested refreshes it refuses (exit status 75, "try again later") before touching
anything, so it never marks that worker's running SyncRun as interrupted.
"""

from __future__ import annotations

from contextlib import ExitStack

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.tokens import budget, history, refresh, universe
from apps.tokens.data_set import data_set_refusal
from apps.tokens.models import SyncRun, Token
from apps.tokens.tasks import kind_lock, refresh_followup

# The command's words -> their SyncRun kinds (tasks.REFRESH_TASKS), whose tasks' locks it takes too.
KINDS = {"universe": "universe", "markets": "markets", "prices": "price-history", "revenue": "revenue-history"}
EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, the caller may retry


class Command(BaseCommand):
    help = "Refresh market data, price history and/or revenue from the configured providers."

    def add_arguments(self, parser):
        parser.add_argument(
            "what",
            nargs="*",
            help=(
                "What to refresh: universe (live mode: which tokens to track), markets, prices, revenue "
                "(default: all, in that order; the universe only in live mode)"
            ),
        )
        parser.add_argument("--tokens", help="Comma-separated token slugs (default: every tracked token)")
        parser.add_argument(
            "--backfill-days", type=int, default=None, help="Fetch this many days of history, not only what is new"
        )
        parser.add_argument(
            "--plan", action="store_true", help="Print the request budget's plan (calls a day by job); refresh nothing"
        )

    def handle(
        self, *args, what: list[str] | None, tokens: str | None, backfill_days: int | None, plan: bool, **options
    ):
        if plan:
            self.print_plan()
            return
        live = settings.ACCRUAL_DATA_MODE == "live"
        what = what or [kind for kind in KINDS if live or kind != "universe"]
        unknown = sorted(set(what) - set(KINDS))
        if unknown:
            raise CommandError(f"Unknown refresh {', '.join(unknown)}; choose from {', '.join(KINDS)}")
        if backfill_days is not None and not 1 <= backfill_days <= 3650:
            raise CommandError("--backfill-days must be between 1 and 3650")
        token_ids = None
        if tokens:
            slugs = [s.strip() for s in tokens.split(",") if s.strip()]
            found = dict(Token.objects.filter(slug__in=slugs).values_list("slug", "pk"))
            missing = sorted(set(slugs) - set(found))
            if missing:
                raise CommandError(f"Unknown token(s): {', '.join(missing)}")
            token_ids = list(found.values())

        refusal = data_set_refusal(offered=settings.ACCRUAL_DATA_MODE)
        if refusal:  # before any provider is asked (the services would refuse too, run by run)
            raise CommandError(refusal)

        with ExitStack() as stack:
            locks = []
            for kind in what:
                lock = stack.enter_context(kind_lock(KINDS[kind]))
                if not lock:
                    raise CommandError(
                        f"The {kind} refresh is running in a worker now (lock {lock.name} held); nothing was "
                        "done. Try again when it has finished.",
                        returncode=EX_TEMPFAIL,
                    )
                locks.append(lock)
            failed = False
            changed: set[int] = set()
            for kind in what:
                bar = tqdm(desc=f"{kind:>8}", unit="token", file=self.stderr._out)

                def progress(done: int, total: int, bar=bar) -> None:
                    bar.total = total
                    bar.update(done - bar.n)
                    for lock in locks:  # a long backfill outlives one TTL: keep the workers out
                        lock.extend()

                if kind == "universe":
                    if not live:  # the sample's universe is its catalogue: nothing to discover
                        bar.close()
                        self.stdout.write(f"universe: skipped. {universe.SAMPLE_REFUSAL}")
                        continue
                    bar.unit = "call"
                    result = universe.universe_refresh(
                        market_provider=refresh.market_provider(),
                        revenue_provider=refresh.revenue_provider(),
                        progress=progress,
                    )
                elif kind == "markets":
                    result = refresh.market_refresh(provider=refresh.market_provider(), token_ids=token_ids)
                elif kind == "prices":
                    result = history.price_history_refresh(
                        provider=refresh.market_provider(),
                        token_ids=token_ids,
                        backfill_days=backfill_days or history.DEFAULT_BACKFILL_DAYS,
                        progress=progress,
                    )
                else:
                    result = history.revenue_refresh(
                        provider=refresh.revenue_provider(),
                        token_ids=token_ids,
                        backfill=backfill_days is not None,
                        progress=progress,
                    )
                bar.close()
                changed |= result.changed_tokens
                run = result.run
                line = (
                    f"{kind}: {run.get_status_display()}, {run.rows_written} rows, {len(result.changed_tokens)} tokens"
                )
                if result.remaining:
                    line += f", {result.remaining} left for the next run"
                if run.status == SyncRun.Status.FAILED or result.failures:
                    failed = failed or run.status == SyncRun.Status.FAILED
                    self.stdout.write(self.style.WARNING(f"{line}; {run.error}"))
                else:
                    self.stdout.write(self.style.SUCCESS(line))
        rated = refresh_followup(changed_tokens=changed, foreground=True)
        if rated is None:
            self.stdout.write("ratings: no token changed, nothing to rate again")
        elif rated.get("queued"):
            self.stdout.write(self.style.WARNING("ratings: another recompute is running; queued after it"))
        elif rated.get("skipped"):
            self.stdout.write(f"ratings: {rated['reason']}")
        else:
            self.stdout.write(
                self.style.SUCCESS(f"ratings: {rated['day']} rated again, {rated['written']} ratings written")
            )
        if failed:
            raise CommandError("A refresh failed; see the messages above and the sync runs in the admin.")

    def print_plan(self) -> None:
        current = budget.current_plan()
        self.stdout.write(f"Request budget as of {current.as_of:%Y-%m-%d %H:%M} UTC")
        for name, rows in budget.plan_tables(current).items():
            if not rows:
                continue
            headings = budget.PLAN_HEADINGS[name]
            widths = [max(len(str(cell)) for cell in column) for column in zip(headings, *rows, strict=True)]
            self.stdout.write("")
            for row in (headings, *rows):
                self.stdout.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        for note in current.notes:
            self.stdout.write(self.style.WARNING(f"Note: {note}"))
