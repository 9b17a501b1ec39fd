"""Every scheduled event's /predict answer, encoded once per snapshot: the hot path sends bytes it already has.

An event's answer (teams, kickoff, probabilities, version, A/B arm, build, markets) is fixed for the life of a
snapshot: the arm is a function of the event id and the markets were priced when the snapshot was built. Encoding
it per request (the ``markets`` object is ~60 floats for ``main``, ~1,000 for ``all``) was most of the handler's
time, so the three depths are encoded here, when the snapshot is built off the request path, with the very encoder
``JSONResponse`` uses (``encode``): the bytes are the ones a per-request encoding gave. A batch splices the same
bytes (``batch_body``) into its answer. Only the kickoff check, the metrics and the recorder run per request.
Must never hold an answer across snapshots (a swap builds new ones) and never answer bytes another encoder made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from betpipe.predict import CHALLENGER_ARM, CHAMPION_ARM, SportPredictor
from betpipe.registry import ModelVersion

__all__ = ["DEPTHS", "EventAnswer", "batch_body", "encode", "event_answers", "prediction_body"]

DEPTHS = ("none", "main", "all")  # schemas.EventMarkets


def encode(content: Any) -> bytes:
    """Exactly ``starlette.responses.JSONResponse.render``: compact, UTF-8, NaN refused."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class EventAnswer:
    """One scheduled event as served: who answers it and its body per ``markets`` depth (None: not encodable)."""

    sport: str
    version_id: int
    arm: str
    kickoff: datetime
    probabilities: list[float]
    bodies: dict[str, bytes | None]

    def body(self, depth: str) -> bytes:
        encoded = self.bodies[depth]
        if encoded is None:  # what the per-request encoding raised: a 500 problem, as before
            raise ValueError("Out of range float values are not JSON compliant")
        return encoded


def prediction_body(
    predictor: SportPredictor,
    record: dict[str, Any],
    proba: list[float],
    version: ModelVersion,
    arm: str,
    markets: dict[str, Any] | None,
) -> dict[str, Any]:
    """A ``Prediction`` as plain JSON-ready values (the schema documents it; it is not validated per request)."""
    return {
        "event_id": record["event_id"],
        "sport": predictor.sport,
        "market": predictor.market,
        "competition": record["competition"],
        "home_team": record["home_team"],
        "away_team": record["away_team"],
        "kickoff": record["kickoff"].isoformat(),
        "probabilities": dict(zip(predictor.outcomes, proba, strict=True)),
        "model_version_id": version.id,
        "model_version": version.version,
        "model_type": version.model_type,
        "arm": arm,
        "feature_build_id": predictor.features.build_id,
        "markets": markets,
    }


def _encode_or_none(content: dict[str, Any]) -> bytes | None:
    try:
        return encode(content)
    except ValueError:  # a non-finite float: the request gets the 500 the per-request encoding gave
        return None


def event_answers(predictor: SportPredictor) -> dict[int, EventAnswer]:
    """Every scheduled event of ``predictor``, answered by the arm its id falls on, at every depth."""
    out: dict[int, EventAnswer] = {}
    for event_id, row in predictor.features.row_of_event.items():
        record = predictor.upcoming_records[row]
        challenger = predictor.challenger is not None and bool(predictor.upcoming_challenger[row])
        loaded = predictor.challenger if challenger and predictor.challenger is not None else predictor.champion
        proba = predictor.upcoming_lists[loaded.version.id][row]
        arm = CHALLENGER_ARM if challenger else CHAMPION_ARM
        markets = None if predictor.upcoming_markets is None else predictor.upcoming_markets[loaded.version.id]
        bodies: dict[str, bytes | None] = {}
        for depth in DEPTHS:
            block = None if markets is None or depth == "none" else (markets.full if depth == "all" else markets.main)
            bodies[depth] = _encode_or_none(
                prediction_body(predictor, record, proba, loaded.version, arm, None if block is None else block[row])
            )
        out[event_id] = EventAnswer(predictor.sport, loaded.version.id, arm, record["kickoff"], proba, bodies)
    return out


def batch_body(items: Iterable[bytes | dict[str, Any]], predicted: int, failed: int) -> bytes:
    """A ``BatchResponse`` from its items, each an encoded ``Prediction`` or a problem dict, in request order: the
    bytes ``encode({"results": [...], "predicted": ..., "failed": ...})`` gives, without decoding what is encoded."""
    parts: list[bytes] = []
    for index, item in enumerate(items):
        if isinstance(item, bytes):
            parts.append(b'{"index":%d,"prediction":%s,"problem":null}' % (index, item))
        else:
            parts.append(encode({"index": index, "prediction": None, "problem": item}))
    return b'{"results":[%s],"predicted":%d,"failed":%d}' % (b",".join(parts), predicted, failed)
