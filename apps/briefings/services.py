"""Building the daily briefing and moving it from draft to ready.

Every figure is copied into ``Briefing.sections`` when it is built (token slug, values as
strings, as-of), so the page and the emails show what was sent even if the data changes.
Revenue movers compare each token's 30-day figure with its snapshot ``MOVERS_DAYS_BACK``
days earlier (week over week, as the revenue alerts do). A day's briefing reports that
day's rating changes, the buybacks and burns dated the day before (the last complete UTC
day at the briefing time) and the Top 10 revisions of the 24 hours to its time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Abs
from django.utils import timezone

from apps.editorial.models import Revision, RevisionEntry
from apps.editorial.selectors import public_lists, revision_rows
from apps.ratings.models import Rating, RatingChange
from apps.ratings.selectors import VERSION
from apps.tokens.data_set import data_set_held
from apps.tokens.models import AccrualEvent, DataSet, MetricSnapshot, Token
from apps.tokens.templatetags.accrual_format import pct, usd

from .models import Briefing, EditorNote

TOP_N = 10
MOVERS_DAYS_BACK = 7
# A move is news when the 30-day figure, before or after, is at least this much ($).
MOVER_MIN_USD = Decimal("100000")
# ... and it moved at least this much (0.10: 10 %) either way.
MOVER_MIN_CHANGE = Decimal("0.10")
ACCRUAL_KINDS = (AccrualEvent.Kind.BUYBACK, AccrualEvent.Kind.BUYBACK_BURN, AccrualEvent.Kind.BURN)
MOVER_FIELDS = {
    "revenue_movers": ("revenue_30d", "30-day revenue"),
    "holders_revenue_movers": ("holders_revenue_30d", "30-day holders revenue"),
}
TOKEN_FIELDS = ("token__slug", "token__symbol", "token__name")
SUBJECT_LABELS = dict(RatingChange.Subject.choices)


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _token(token: Token) -> dict[str, str]:
    return {"slug": token.slug, "symbol": token.symbol.upper(), "name": token.name}


def at_time(day: dt.date, hhmm: str) -> dt.datetime:
    """``day`` at an "HH:MM" time, UTC."""
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=dt.UTC)


# --- Sections ----------------------------------------------------------------------------


def _rating_changes(day: dt.date) -> tuple[list[dict], list[dict]]:
    """The day's grade changes (band changes and large score moves, one row per token and
    grade, largest move first) and signal flips (bullish first)."""
    changes = (
        RatingChange.objects.filter(date=day, methodology_version=VERSION)
        .select_related("token")
        .only(*TOKEN_FIELDS, "kind", "subject", "before", "after", "detail", "created_at")
        .order_by("token__slug", "kind", "subject")
    )
    grades: dict[tuple[int, str], dict] = {}
    flips = []
    for change in changes:
        if change.kind == RatingChange.Kind.SIGNAL_FLIP:
            flips.append(
                {
                    **_token(change.token),
                    "before": change.before,
                    "after": change.after,
                    "trader_score": change.detail.get("trader_score"),
                    "as_of": _iso(change.created_at),
                }
            )
            continue
        row = grades.setdefault(
            (change.token_id, change.subject),
            {
                **_token(change.token),
                "subject": change.subject,
                "subject_label": SUBJECT_LABELS.get(change.subject, change.subject),
                "band_changed": False,
                "grade_before": None,
                "grade_after": None,
                "score_before": change.detail.get("before_score"),
                "score_after": change.detail.get("after_score"),
                "move": None,
                "as_of": _iso(change.created_at),
            },
        )
        if change.kind == RatingChange.Kind.BAND_CHANGE:
            row.update(band_changed=True, grade_before=change.before, grade_after=change.after)
    for row in grades.values():
        if row["score_before"] is not None and row["score_after"] is not None:
            row["move"] = str(Decimal(row["score_after"]) - Decimal(row["score_before"]))
    ordered = sorted(
        grades.values(),
        key=lambda r: (-abs(Decimal(r["move"])) if r["move"] else Decimal(0), not r["band_changed"], r["slug"]),
    )
    flips.sort(key=lambda r: (r["after"] != "bullish", r["slug"]))
    return ordered, flips


def _movers(day: dt.date, field: str) -> list[dict]:
    """Tokens whose 30-day ``field`` moved at least MOVER_MIN_CHANGE since the snapshot
    MOVERS_DAYS_BACK days earlier, largest move first (all of them: the reader's section
    reads past the top N)."""
    earlier = day - dt.timedelta(days=MOVERS_DAYS_BACK)
    money = DecimalField(max_digits=26, decimal_places=4)
    previous = MetricSnapshot.objects.filter(token_id=OuterRef("token_id"), date=earlier).values(field)[:1]
    rows = (
        MetricSnapshot.objects.filter(date=day, **{f"{field}__isnull": False})
        .annotate(previous=Subquery(previous, output_field=money))
        .filter(previous__gt=0)
        .filter(Q(**{f"{field}__gte": MOVER_MIN_USD}) | Q(previous__gte=MOVER_MIN_USD))
        .annotate(
            change=ExpressionWrapper(
                (F(field) - F("previous")) / F("previous"), output_field=DecimalField(max_digits=30, decimal_places=10)
            )
        )
        .annotate(size=Abs("change"))
        .filter(size__gte=MOVER_MIN_CHANGE)
        .select_related("token")
        .only(*TOKEN_FIELDS, field, "revenue_as_of", "date")
        .order_by("-size", "token__slug")
    )
    return [
        {
            **_token(s.token),
            "value": _str(getattr(s, field)),
            "previous": _str(s.previous),
            "previous_date": earlier.isoformat(),
            "change": str(round(Decimal(s.change), 4)),
            "as_of": _iso(s.revenue_as_of),
        }
        for s in rows
    ]


def events_day(day: dt.date) -> dt.date:
    """The day whose buybacks and burns ``day``'s briefing reports: the UTC day before, the
    last one complete at the briefing time (as the day's snapshots and ratings are)."""
    return day - dt.timedelta(days=1)


def _accrual_events(day: dt.date) -> list[dict]:
    """Buybacks and burns dated ``events_day(day)``, largest first."""
    events = (
        AccrualEvent.objects.filter(date=events_day(day), kind__in=ACCRUAL_KINDS)
        .select_related("token")
        .order_by(F("usd_amount").desc(nulls_last=True), "token__slug", "pk")
    )
    return [
        {
            **_token(e.token),
            "kind": e.kind,
            "kind_label": e.get_kind_display(),
            "usd_amount": _str(e.usd_amount),
            "token_amount": _str(e.token_amount),
            "date": e.date.isoformat(),
            "source": e.source,
            "as_of": _iso(e.fetched_at),
        }
        for e in events
    ]


def revisions_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The Top 10 revisions a day's briefing reports: those made in the 24 hours up to its
    BRIEFING_TIME_UTC, so consecutive briefings cover every revision once."""
    end = at_time(day, settings.BRIEFING_TIME_UTC)
    return end - dt.timedelta(days=1), end


def _revisions(day: dt.date) -> list[dict]:
    start, end = revisions_window(day)
    made = list(
        Revision.objects.filter(made_at__gt=start, made_at__lte=end, top_list__in=public_lists())
        .select_related("top_list")
        .order_by("made_at", "top_list__slug")
    )
    if not made:
        return []
    # The revision each follows, for what it added and dropped: one query for all of them.
    wanted = Q(pk__in=[r.pk for r in made])
    for r in made:
        wanted |= Q(top_list_id=r.top_list_id, number=r.number - 1)
    entries = RevisionEntry.objects.select_related("token").order_by("rank")
    pairs = {
        (r.top_list_id, r.number): r
        for r in Revision.objects.filter(wanted).prefetch_related(Prefetch("entries", queryset=entries))
    }
    out = []
    for r in made:
        chain = [pairs[key] for key in ((r.top_list_id, r.number - 1), (r.top_list_id, r.number)) if key in pairs]
        row = revision_rows(chain)[-1]
        out.append(
            {
                "list_slug": r.top_list.slug,
                "title": r.top_list.title,
                "number": r.number,
                "note": r.note,
                "made_at": _iso(r.made_at),
                "as_of": _iso(r.made_at),
                # Sponsorship is said wherever a list is shown, emails included (issue 14).
                "sponsor": r.top_list.sponsor_name if r.top_list.sponsored else "",
                "joined": [
                    {**_token(e.token), "rank": e.rank, "sponsor": e.sponsor_name if e.sponsored else ""}
                    for e in row.joined
                ],
                "dropped": [_token(e.token) for e in row.dropped],
            }
        )
    return out


def _note(day: dt.date) -> dict | None:
    note = EditorNote.objects.filter(date=day).select_related("author").first()
    if note is None or not note.text.strip():
        return None
    author = note.author.display_name if note.author and note.author.display_name else "The editors"
    return {"text": note.text.strip(), "author": author, "updated_at": _iso(note.updated_at)}


def _watch(sections: dict[str, Any]) -> dict[str, dict]:
    """Every figure of the day by token, in words, for the section a reader with those
    tokens on a watchlist gets first."""
    by_token: dict[str, dict] = defaultdict(lambda: {"lines": []})

    def add(row: dict, text: str) -> None:
        entry = by_token[row["slug"]]
        entry.update(symbol=row["symbol"], name=row["name"])
        entry["lines"].append({"text": text, "as_of": row["as_of"]})

    for row in sections["all_rating_changes"]:
        if row["band_changed"]:
            text = f"{row['subject_label']} {row['grade_before']} → {row['grade_after']}"
        else:
            text = f"{row['subject_label']} score"
        if row["move"] is not None:
            text += f" (score {row['score_before']} → {row['score_after']})"
        add(row, text)
    for row in sections["all_signal_flips"]:
        add(row, f"Signal flipped {row['before']} → {row['after']}")
    for key, (_, label) in MOVER_FIELDS.items():
        for row in sections[f"all_{key}"]:
            add(row, f"{label} {pct(row['change'], 'signed')} in {MOVERS_DAYS_BACK} days, to {usd(row['value'])}")
    for row in sections["accrual_events"]:
        amount = f" of {usd(row['usd_amount'])}" if row["usd_amount"] is not None else ""
        add(row, f"{row['kind_label']}{amount} on {row['date']}")
    for revision in sections["top_list_revisions"]:
        for row in revision["joined"]:
            add({**row, "as_of": revision["as_of"]}, f"Joined “{revision['title']}” at #{row['rank']}")
        for row in revision["dropped"]:
            add({**row, "as_of": revision["as_of"]}, f"Dropped from “{revision['title']}”")
    return dict(by_token)


def _summary(sections: dict[str, Any]) -> str:
    """The day in one line, for the archive and the email's preview text."""
    movers = len(sections["all_revenue_movers"]) + len(sections["all_holders_revenue_movers"])
    parts = [
        (len(sections["all_rating_changes"]), "grade change", "grade changes"),
        (len(sections["all_signal_flips"]), "signal flip", "signal flips"),
        (movers, "revenue mover", "revenue movers"),
        (len(sections["accrual_events"]), "buyback or burn", "buybacks and burns"),
        (len(sections["top_list_revisions"]), "Top 10 revision", "Top 10 revisions"),
    ]
    return " · ".join(f"{n} {one if n == 1 else many}" for n, one, many in parts if n) or "A quiet day"


def briefing_sections(day: dt.date) -> dict[str, Any]:
    """Every section of ``day``'s briefing, as stored (a fixed number of queries)."""
    changes, flips = _rating_changes(day)
    sections: dict[str, Any] = {
        "day": day.isoformat(),
        "movers_days_back": MOVERS_DAYS_BACK,
        "rating_changes": changes[:TOP_N],
        "all_rating_changes": changes,
        "signal_flips": flips[:TOP_N],
        "all_signal_flips": flips,
        "events_day": events_day(day).isoformat(),
        "accrual_events": _accrual_events(day),
        "top_list_revisions": _revisions(day),
        "note": _note(day),
    }
    for key, (field, _) in MOVER_FIELDS.items():
        movers = _movers(day, field)
        sections[key] = movers[:TOP_N]
        sections[f"all_{key}"] = movers
    sections["watch"] = _watch(sections)
    sections["summary"] = _summary(sections)
    # The uncut lists served the reader's section and the counts; only the top N are kept.
    for key in ("all_rating_changes", "all_signal_flips", "all_revenue_movers", "all_holders_revenue_movers"):
        sections[f"{key[4:]}_total"] = len(sections.pop(key))
    return sections


# --- Building and scheduling ---------------------------------------------------------------


def briefing_build(*, day: dt.date, now: dt.datetime | None = None) -> Briefing:
    """Build ``day``'s briefing, or rebuild it (its sections replaced) unless it was sent. A
    sample briefing left by an emptied sample data set is rebuilt from this one's data, as a
    draft again (the two never mix)."""
    now = now or timezone.now()
    sections = briefing_sections(day)
    is_sample = data_set_held() == DataSet.Mode.SAMPLE
    with transaction.atomic():
        briefing, created = Briefing.objects.select_for_update().get_or_create(
            date=day, defaults={"sections": sections, "built_at": now, "is_sample": is_sample}
        )
        if not created and briefing.status != Briefing.Status.SENT:
            if briefing.is_sample != is_sample:
                briefing.status, briefing.is_sample = Briefing.Status.DRAFT, is_sample
            briefing.sections, briefing.built_at = sections, now
            briefing.save(update_fields=["sections", "built_at", "is_sample", "status"])
    return briefing


@dataclass(frozen=True)
class BriefingStep:
    """What one run of the schedule did for ``day``: ``action`` is one of before_time,
    no_ratings, waiting_for_note, ready (to be sent now) or done (already ready or sent)."""

    day: dt.date
    action: str
    briefing: Briefing | None = None


def briefing_advance(*, now: dt.datetime | None = None) -> BriefingStep:
    """One run of the schedule: past BRIEFING_TIME_UTC and once the day's ratings exist,
    build the day's briefing; under the "wait" policy, keep it a draft until the editor's
    note is written or the deadline passes; then make it ready (once: a conditional update,
    so two runs never queue two sends)."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    day = now.date()
    if now < at_time(day, settings.BRIEFING_TIME_UTC):
        return BriefingStep(day, "before_time")
    existing = Briefing.objects.filter(date=day).only("status", "is_sample").first()
    leftover = existing is not None and existing.is_sample and data_set_held() != DataSet.Mode.SAMPLE
    if existing is not None and existing.status != Briefing.Status.DRAFT and not leftover:
        return BriefingStep(day, "done", existing)
    if not Rating.objects.filter(date=day, methodology_version=VERSION).exists():
        return BriefingStep(day, "no_ratings")
    briefing = briefing_build(day=day, now=now)
    if briefing.sections.get("note") is None and settings.BRIEFING_NOTE_POLICY == "wait":
        deadline = settings.BRIEFING_NOTE_DEADLINE_UTC
        if not deadline or now < at_time(day, deadline):
            return BriefingStep(day, "waiting_for_note", briefing)
    if not Briefing.objects.filter(pk=briefing.pk, status=Briefing.Status.DRAFT).update(status=Briefing.Status.READY):
        return BriefingStep(day, "done", briefing)
    briefing.status = Briefing.Status.READY
    return BriefingStep(day, "ready", briefing)


def briefing_mark_sent(*, briefing: Briefing, now: dt.datetime | None = None) -> bool:
    """Record that ``briefing`` went out; False if it had already been marked."""
    now = now or timezone.now()
    marked = Briefing.objects.filter(pk=briefing.pk).exclude(status=Briefing.Status.SENT)
    if marked.update(status=Briefing.Status.SENT, sent_at=now):
        briefing.status, briefing.sent_at = Briefing.Status.SENT, now
        return True
    return False


# --- Sending by hand (manage.py send_briefing) -----------------------------------------------


class BriefingNotSendable(Exception):
    """Why a day's briefing cannot be sent by hand; nothing was changed."""


def briefing_check_sendable(*, day: dt.date, without_note: bool = False, now: dt.datetime | None = None) -> Briefing:
    """``day``'s briefing if staff may send it now, else BriefingNotSendable saying why. Reads
    only (a dry run calls it too). A draft is the schedule's "waiting for the editor's note";
    ``without_note`` sends it as built, as the "skip" policy or the note deadline would."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    if day > now.date():
        raise BriefingNotSendable(f"{day} is in the future (today is {now.date()} UTC): nothing was sent.")
    briefing = Briefing.objects.filter(date=day).first()
    if briefing is None:
        raise BriefingNotSendable(
            f"There is no briefing for {day}: the schedule builds one once that day's ratings exist. Nothing was sent."
        )
    if briefing.is_sample and data_set_held() != DataSet.Mode.SAMPLE:
        raise BriefingNotSendable(
            f"The briefing for {day} was built from the sample data set, which is no longer loaded. Nothing was sent."
        )
    if briefing.status == Briefing.Status.DRAFT and not without_note and not _note_waiting(briefing):
        raise BriefingNotSendable(
            f"The briefing for {day} is still a draft waiting for the editor's note: write it in the admin "
            "(Briefings › Editor notes) and run this again, or pass --without-note to send it as it is. "
            "Nothing was sent."
        )
    return briefing


def _note_waiting(briefing: Briefing) -> bool:
    """A draft built before its note was written: the note is there, the briefing lacks it."""
    if briefing.sections.get("note") is not None:
        return True
    return EditorNote.objects.filter(date=briefing.date).exclude(text="").exists()


def briefing_make_ready(*, briefing: Briefing, now: dt.datetime | None = None) -> bool:
    """Publish a draft as the schedule's next run would: rebuilt first if its note was written
    since, then made ready (a conditional update). False if it was no longer a draft."""
    if briefing.status != Briefing.Status.DRAFT:
        return False
    if briefing.sections.get("note") is None and _note_waiting(briefing):
        briefing = briefing_build(day=briefing.date, now=now)
    if Briefing.objects.filter(pk=briefing.pk, status=Briefing.Status.DRAFT).update(status=Briefing.Status.READY):
        briefing.status = Briefing.Status.READY
        return True
    return False


def briefing_send(*, day: str, on_render=None):
    """Email ``day``'s ready or sent briefing to every confirmed subscriber who has not had it,
    through the newsletter's delivery engine (exactly once each), then mark it sent. None if
    there is no ready or sent briefing that day. ``on_render(subscription)``, if given, is
    called before each message (progress). Shared by the ``briefings.send`` task and the command."""
    # The newsletter sends; a briefing is one of its issues (its renderer is in NEWSLETTER_RENDERERS).
    from apps.newsletter.delivery import send_issue

    from . import emails, selectors

    issue_key = f"briefing:{day}"
    render = emails.briefing_renderer(issue_key)
    if render is None:
        return None
    if on_render is not None:
        inner = render

        def render(subscription):
            on_render(subscription)
            return inner(subscription)

    result = send_issue(issue_key=issue_key, render=render)
    # A run another worker holds, or one stopped by a lost connection, leaves the rest to
    # the newsletter's retry task; the briefing is marked sent by the run that finishes.
    briefing = selectors.briefing_to_send(day)
    if briefing is not None and not result.busy and not result.stopped:
        briefing_mark_sent(briefing=briefing)
    return result
