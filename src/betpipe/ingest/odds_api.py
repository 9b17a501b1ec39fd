"""The Odds API v4 source: a quota-recording client and the ingest entry points for ``/odds`` and ``/scores``.

The API key travels only in the ``apiKey`` query parameter of the outgoing request. It must never be logged, put
in an exception, a stored locator or the ``api_requests`` table: locators and endpoints are built from the other
parameters only. Live events are written without inventing teams once a competition has history (unknown names are
quarantined with a reason, so an alias can be added) and without overwriting events from authoritative sources.
A fetched payload is never lost to bookkeeping: quota headers are parsed defensively (a value the ``api_requests``
columns cannot hold is stored as NULL with a note), and a failure to record a request is logged, not raised.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import SQLAlchemyError

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.config import OddsApiSettings, Settings
from betpipe.db.bulk import upsert
from betpipe.db.schema import api_requests, competitions, event_refs, events, results
from betpipe.ingest.aliases import seed_aliases
from betpipe.ingest.http import RateLimitedClient, SourceError
from betpipe.ingest.odds_api_reader import (
    SOURCE,
    BadPayloadError,
    OddsFormat,
    competition_for,
    read_odds_api_odds,
    read_odds_api_scores,
)
from betpipe.ingest.records import NormalisedBatch
from betpipe.ingest.store import IngestReport, finish_run, ingest_payload, start_run
from betpipe.logs import get_logger

__all__ = [
    "BadPayloadError",
    "OddsApiClient",
    "OddsApiPayload",
    "Quota",
    "competition_for",
    "ingest_odds_api",
    "ingest_odds_api_payload",
    "ingest_odds_api_scores",
    "ingest_odds_api_scores_payload",
    "read_odds_api_odds",
    "read_odds_api_scores",
]

log = get_logger(__name__)

QUOTA_HEADERS = ("x-requests-remaining", "x-requests-used", "x-requests-last")
QUOTA_LIMIT = Decimal(10) ** 10  # api_requests.requests_* are Numeric(12, 2): below 1e10, two decimals
SPORT_KEY = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")


@dataclass(frozen=True)
class Quota:
    remaining: Decimal | None
    used: Decimal | None
    last: Decimal | None
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, response: httpx.Response) -> Quota:
        """The quota headers; a value that is absent or unusable is None, and each unusable one leaves a note."""
        values: list[Decimal | None] = []
        notes: list[str] = []
        for name in QUOTA_HEADERS:
            value, note = quota_value(response.headers.get(name))
            values.append(value)
            if note is not None:
                notes.append(f"{name} {note}")
        return cls(values[0], values[1], values[2], notes=tuple(notes))

    @property
    def known(self) -> bool:
        return (self.remaining, self.used, self.last) != (None, None, None)


@dataclass(frozen=True)
class OddsApiPayload:
    """One successful response: raw bytes plus a key-free locator naming the request."""

    locator: str
    body: bytes
    fetched_at: datetime
    content_type: str
    quota: Quota


def quota_value(text: str | None) -> tuple[Decimal | None, str | None]:
    """A quota header as a storable Decimal, or (None, why not): non-finite, negative or too large is not a quota."""
    if text is None:
        return None, None
    shown = repr(text[:40] + ("..." if len(text) > 40 else ""))
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None, f"{shown} is not a number: stored NULL"
    if not value.is_finite() or not Decimal(0) <= value < QUOTA_LIMIT:
        return None, f"{shown} is not a finite number in [0, 1e10): stored NULL"
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), None


def media_type(header: str | None) -> str:
    """The response's media type if it looks like one, else JSON (what the API serves); never a header's junk."""
    value = (header or "").split(";")[0].strip().lower()
    return value if CONTENT_TYPE.fullmatch(value) and len(value) <= 100 else "application/json"


class OddsApiClient:
    """GET ``/v4`` endpoints via ``RateLimitedClient``; each call, even a failed one, is one ``api_requests`` row."""

    def __init__(
        self,
        settings: OddsApiSettings,
        *,
        engine: Engine | None = None,
        transport: httpx.BaseTransport | None = None,
        backoff_initial_seconds: float = 0.5,
        retry_after_cap_seconds: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
        retry_sleep: Callable[[float], None] | None = None,
    ) -> None:
        if settings.api_key is None or not settings.api_key.get_secret_value():
            raise SourceError("The Odds API key is not configured: set BETPIPE_ODDS_API__API_KEY")
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.last_quota: Quota | None = None
        self._key = settings.api_key
        self._local = threading.local()
        self._http = RateLimitedClient(
            settings.base_url,
            requests_per_second=settings.requests_per_second,
            timeout_seconds=settings.timeout_seconds,
            max_attempts=settings.max_attempts,
            source=SOURCE,
            transport=transport,
            headers={"Accept": "application/json"},
            on_response=self._on_response,
            backoff_initial_seconds=backoff_initial_seconds,
            retry_after_cap_seconds=retry_after_cap_seconds,
            deadline_seconds=settings.deadline_seconds,
            max_response_bytes=settings.max_response_bytes,
            retry_sleep=retry_sleep,
        )

    def __enter__(self) -> OddsApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def sports(self) -> list[dict[str, Any]]:
        """In-season sports (this endpoint costs no quota)."""
        payload = self._get("/v4/sports", {})
        try:
            data = json.loads(payload.body)
        except ValueError as error:
            raise BadPayloadError(f"{payload.locator}: not valid JSON ({error})") from None
        if not isinstance(data, list):
            raise BadPayloadError(f"{payload.locator}: expected a JSON array of sports")
        return data

    def odds(
        self,
        sport: str,
        markets: Sequence[str] = ("h2h", "spreads", "totals"),
        regions: str | None = None,
        odds_format: OddsFormat = "decimal",
        date_format: str = "iso",
    ) -> OddsApiPayload:
        params = {
            "regions": regions or self.settings.regions,
            "markets": ",".join(markets),
            "oddsFormat": odds_format,
            "dateFormat": date_format,
        }
        return self._get(f"/v4/sports/{_sport_key(sport)}/odds", params)

    def scores(self, sport: str, days_from: int | None = None) -> OddsApiPayload:
        """Live and upcoming events, plus completed ones from the last ``days_from`` days (1..3) when given."""
        params = {"dateFormat": "iso"}
        if days_from is not None:
            params["daysFrom"] = str(days_from)
        return self._get(f"/v4/sports/{_sport_key(sport)}/scores", params)

    def _get(self, path: str, params: dict[str, str]) -> OddsApiPayload:
        locator = f"{path}?{urlencode(sorted(params.items()))}" if params else path
        requested_at = self.clock.now()
        self._local.last = None
        try:
            response = self._http.get(path, {**params, "apiKey": self._key.get_secret_value()})
        except SourceError as error:
            self._record(locator, requested_at, error.attempts or self.settings.max_attempts, str(error))
            raise
        self._record(locator, requested_at, self._local.last[1] if self._local.last else 1, None)
        content_type = media_type(response.headers.get("content-type"))
        return OddsApiPayload(locator, response.content, requested_at, content_type, Quota.of(response))

    def _on_response(self, response: httpx.Response, attempts: int) -> None:
        self._local.last = (response, attempts)
        quota = Quota.of(response)
        if quota.known:
            self.last_quota = quota

    def _record(self, endpoint: str, requested_at: datetime, attempts: int, error: str | None) -> None:
        """One ``api_requests`` row; a failure to write it is logged, never allowed to cost the payload."""
        last: tuple[httpx.Response, int] | None = self._local.last
        quota = Quota.of(last[0]) if last else Quota(None, None, None)
        if self.engine is None:
            return
        notes = "; ".join(quota.notes)
        text = error if not notes else f"{error}; note: {notes}" if error else f"note: {notes}"
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(api_requests).values(
                        source=SOURCE,
                        endpoint=endpoint[:400],
                        requested_at=requested_at,
                        status_code=last[0].status_code if last else None,
                        attempts=attempts,
                        requests_remaining=quota.remaining,
                        requests_used=quota.used,
                        requests_last=quota.last,
                        error=text,
                    )
                )
        except SQLAlchemyError as failure:
            log.error("api request not recorded", endpoint=endpoint, reason=type(failure).__name__)


def _sport_key(sport: str) -> str:
    """A sport key as the API spells them (``soccer_epl``); anything else is refused before a request is sent."""
    if not SPORT_KEY.fullmatch(sport):
        raise SourceError(
            f"{SOURCE}: {sport[:80]!r} is not a sport key (lowercase letters, digits, _; e.g. soccer_epl)"
        )
    return sport


def _creates_teams(engine: Engine, batch: NormalisedBatch | None) -> bool:
    """Teams may be created only for competitions with no events yet; afterwards unknown names are quarantined."""
    if batch is None or batch.events.is_empty():
        return False
    keys = set(batch.events.select("sport", "competition_code").unique().iter_rows())
    with engine.connect() as conn:
        for sport, code in keys:
            has_events = conn.execute(
                select(events.c.id)
                .join(competitions, competitions.c.id == events.c.competition_id)
                .where(competitions.c.sport == sport, competitions.c.code == code)
                .limit(1)
            ).first()
            if has_events is not None:
                return False
    return True


def _ingest(engine: Engine, locator: str, body: bytes, reader: Any, content_type: str) -> IngestReport:
    with engine.begin() as conn:
        seed_aliases(conn)
    try:
        batch: NormalisedBatch | None = reader(body, locator)
    except ValueError:
        batch = None  # ingest_payload re-reads it, keeps the raw bytes and quarantines the payload with the reason
    return ingest_payload(
        engine,
        source=SOURCE,
        locator=locator,
        body=body,
        content_type=media_type(content_type),
        reader=reader,
        create_teams=_creates_teams(engine, batch),
        update_events=False,
    )


def ingest_odds_api_payload(
    engine: Engine,
    body: bytes,
    locator: str,
    *,
    captured_at: datetime,
    odds_format: OddsFormat | None = None,
    content_type: str = "application/json",
) -> IngestReport:
    """Store one ``/odds`` response (fetched live or saved to a file); re-ingesting the same bytes changes nothing.

    ``odds_format`` is the format the response was requested in; None takes it from the locator's ``oddsFormat``,
    and when that is absent too the prices decide.
    """
    reader = partial(read_odds_api_odds, captured_at=captured_at, odds_format=odds_format)
    return _ingest(engine, locator, body, reader, content_type)


def ingest_odds_api_scores_payload(
    engine: Engine, body: bytes, locator: str, *, captured_at: datetime, content_type: str = "application/json"
) -> IngestReport:
    """Store one ``/scores`` response; completed events get results and move to status ``finished``."""
    report = _ingest(engine, locator, body, partial(read_odds_api_scores, captured_at=captured_at), content_type)
    with engine.begin() as conn:
        # Events are not overwritten by a live feed, but a result makes "finished" a fact worth recording.
        keys = conn.execute(
            select(events.c.natural_key)
            .join(event_refs, event_refs.c.event_id == events.c.id)
            .join(results, results.c.event_id == events.c.id)
            .where(event_refs.c.source == SOURCE, events.c.status != "finished")
        ).scalars()
        upsert(conn, events, [(key, "finished") for key in keys], ("natural_key",), ("status",), source=SOURCE)
    return report


def _fetch_failed(engine: Engine, locator: str, error: SourceError) -> None:
    with engine.begin() as conn:
        finish_run(conn, start_run(conn, SOURCE, locator), None, error=str(error))


def _fetch(
    engine: Engine,
    settings: Settings,
    client: OddsApiClient | None,
    endpoint: str,
    call: Callable[[OddsApiClient], OddsApiPayload],
) -> OddsApiPayload:
    """One request with the given (or a fresh, then closed) client; a failure is recorded as a run, then re-raised."""
    owned = client is None
    active = client or OddsApiClient(settings.odds_api, engine=engine)
    try:
        return call(active)
    except SourceError as error:
        _fetch_failed(engine, endpoint, error)
        raise
    finally:
        if owned:
            active.close()


def ingest_odds_api(
    engine: Engine,
    settings: Settings,
    sport: str,
    markets: Sequence[str],
    *,
    client: OddsApiClient | None = None,
    odds_format: OddsFormat = "decimal",
) -> IngestReport:
    """Fetch and store current odds for ``sport``; a failed fetch is recorded as a failed run, then re-raised.

    The prices are read in ``odds_format`` (the one requested), and a response whose prices are in another is
    refused whole, never half-read (``odds_api_prices``).
    """
    payload = _fetch(
        engine,
        settings,
        client,
        f"/v4/sports/{sport}/odds",
        lambda c: c.odds(sport, markets=markets, regions=settings.odds_api.regions, odds_format=odds_format),
    )
    return ingest_odds_api_payload(
        engine, payload.body, payload.locator, captured_at=payload.fetched_at, content_type=payload.content_type
    )


def ingest_odds_api_scores(
    engine: Engine,
    settings: Settings,
    sport: str,
    *,
    days_from: int | None = 3,
    client: OddsApiClient | None = None,
) -> IngestReport:
    """Fetch and store recent scores for ``sport``; failures are recorded as a failed run, then re-raised."""
    payload = _fetch(
        engine, settings, client, f"/v4/sports/{sport}/scores", lambda c: c.scores(sport, days_from=days_from)
    )
    return ingest_odds_api_scores_payload(
        engine, payload.body, payload.locator, captured_at=payload.fetched_at, content_type=payload.content_type
    )
