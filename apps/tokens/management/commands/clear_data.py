"""Empty the database of its data set (sample or live), so the other may be loaded."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection
from tqdm import tqdm

from apps.tokens.data_set import data_clear, data_counts, data_set_held


class Command(BaseCommand):
    help = (
        "Delete the data set this database holds, sample or live: tokens and their facts, policies, events, "
        "reports, snapshots and ratings, chains, DefiLlama protocols, sync runs, and the record of which set it "
        "was. Users, API keys and settings stay."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars")

    def handle(self, *args, interactive: bool, no_progress: bool, **options):
        held = data_set_held() or "no recorded data set"
        counts = data_counts(progress=self._bar("counting", no_progress))
        listed = ", ".join(f"{count:,} {name}" for name, count in counts.items() if count)
        database = connection.settings_dict["NAME"]
        self.stdout.write(f"Database {database} holds {held}: {listed or 'nothing to delete'}.")
        if interactive:
            answer = input("This deletes all of it for good. Type 'yes' to continue, or 'no' to cancel: ")
            if answer.strip().lower() != "yes":
                self.stdout.write("Cancelled: nothing deleted.")
                return
        data_clear(progress=self._bar("deleting", no_progress))
        self.stdout.write(
            self.style.SUCCESS(
                f"Cleared: {sum(counts.values()):,} rows deleted. Next, load the sample (manage.py load_sample_data) "
                "or refresh from the live providers (manage.py refresh_data)."
            )
        )

    def _bar(self, stage: str, hidden: bool):
        """A progress callback drawing one bar for ``stage``."""
        if hidden:
            return None
        bar = tqdm(desc=f"{stage:>8}", unit="step", file=self.stderr._out)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
            if done >= total:
                bar.close()

        return progress
