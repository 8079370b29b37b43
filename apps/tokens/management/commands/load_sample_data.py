"""Load the bundled sample data set through the ingestion services, with progress bars."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.tokens.data_set import DataSetConflict, data_set_refusal
from apps.tokens.ingestion import sample_data_load, sample_load_status
from apps.tokens.models import DataSet, SyncRun
from apps.tokens.providers.base import ProviderError
from apps.tokens.providers.sample import DEFAULT_DATA_DIR, SampleProvider


class Command(BaseCommand):
    help = "Load (or reload: it is idempotent) the bundled sample data set. Refuses a database holding live data."

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="Folder of the sample data set")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars")
        parser.add_argument("--force", action="store_true", help="Reload even if this data set is already loaded")

    def handle(self, *args, data_dir: str, no_progress: bool, force: bool, **options):
        refusal = data_set_refusal(offered=DataSet.Mode.SAMPLE)
        if refusal:
            raise CommandError(refusal)
        provider = SampleProvider(data_dir)
        try:
            as_of = provider.as_of()
        except (OSError, ProviderError) as exc:
            raise CommandError(f"Sample data not loaded: {exc}") from exc
        loaded = sample_load_status()
        if not force and loaded and loaded.started_at == as_of and loaded.status == SyncRun.Status.SUCCEEDED:
            self.stdout.write(f"Sample data as of {as_of:%Y-%m-%d} is already loaded (--force reloads it).")
            self._sample_lists()  # a database loaded before the lists existed gets them
            return
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if no_progress:
                return
            bar = bars.get(stage)
            if bar is None:
                unit = "day" if stage == "ratings" else "token"
                bar = bars[stage] = tqdm(total=total, desc=f"{stage:>9}", unit=unit, file=self.stderr._out)
            bar.update(done - bar.n)
            if done >= total:
                bar.close()

        try:
            result = sample_data_load(provider=provider, progress=progress)
        except DataSetConflict as exc:
            raise CommandError(str(exc)) from exc
        except ProviderError as exc:
            raise CommandError(f"Sample data not loaded: {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Sample data loaded: {result.tokens} tokens, {result.price_rows} price rows, "
                f"{result.revenue_rows} revenue rows, {result.reports} reports, {result.snapshots} snapshots."
            )
        )

    def _sample_lists(self) -> None:
        # Editorial reads tokens, not the other way round: imported here, as ingestion imports ratings.
        from apps.editorial.sample import sample_lists_load

        made = sample_lists_load()
        if made:
            self.stdout.write(f"Sample Top 10 lists made: {made}.")
