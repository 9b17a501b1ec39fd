"""A self-contained HTML report of one backtest: the verdict in words, formatted headline figures, the charts of
``betpipe.charts`` (bankroll, drawdown, monthly and yearly returns, CLV distribution, calibration) and tables per
competition, book and market, refusals per risk rule, the settings.

Charts are drawn to inline SVG by vl-convert when the page is written, so the file has no script, no CDN and no
external file: it opens offline and can be committed or mailed as it is. Figures come from the report's summary
(``report.summarise``) and tables from ``report_tables``; this module only formats and lays out. Summary fields it
does not know (a newer report's verdict fields) are still shown, formatted by their name.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from betpipe.backtest import report_tables as tables

__all__ = ["render_html", "svg"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.4}
h1{margin-bottom:.2rem;font-size:1.7rem;overflow-wrap:anywhere}
h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#666;margin-top:0}.verdict{background:#f5f8fc;border-left:4px solid #1f77b4;padding:.7rem 1rem}
table{border-collapse:collapse;margin:.6rem 0}td,th{border-bottom:1px solid #e4e4e4;padding:.25rem .7rem;
text-align:left}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:.6rem;margin:1rem 0}
.card{border:1px solid #e4e4e4;border-radius:6px;padding:.5rem .7rem}.card b{display:block;font-size:1.25rem}
.card span{color:#666;font-size:.85rem}.chart{margin:.8rem 0 1.4rem}.note{color:#666;font-size:.9rem}
.pos{color:#1a7f1a}.neg{color:#c62828}
"""

_LABELS: dict[str, str] = {
    "bets": "settled bets",
    "events": "events bet on",
    "turnover": "turnover",
    "profit": "profit",
    "yield": "yield (profit per unit staked)",
    "roi": "ROI (profit over the starting bankroll)",
    "hit_rate": "hit rate",
    "mean_clv": "mean CLV",
    "clv_bets": "bets with a CLV",
    "clv_positive_share": "bets with CLV > 0",
    "max_drawdown": "maximum drawdown",
    "max_drawdown_amount": "maximum drawdown (amount)",
    "final_bankroll": "final bankroll",
    "rejected": "bets refused by a risk rule",
    "clv_sd": "CLV standard deviation per bet",
    "bets_to_detect_95": "bets to tell this mean CLV from zero (95 %)",
    "bets_to_detect_95_power_80": "the same, with 80 % power",
    "without_top_1pct": "without the top 1 % of bets",
    "dropped": "bets dropped",
    "mean_clv_shin_close": "mean CLV against the Shin close",
}
_HEADERS = {"mean_clv": "mean CLV", "hit_rate": "hit rate"}
_MONEY_WORDS = ("profit", "turnover", "bankroll", "amount", "stake", "exposure")
_RATE_WORDS = ("clv", "yield", "roi", "rate", "share", "drawdown", "return", "edge")
_SIGNED_WORDS = ("clv", "yield", "roi", "return")


# ---- formatting -----------------------------------------------------------------------------------------------


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _pct(value: float, *, signed: bool = True) -> str:
    return (f"{value:+.2%}" if signed else f"{value:.1%}").replace("%", "\u00a0%")


def _kind(key: str) -> str:
    lowered = key.lower()
    if any(w in lowered for w in _MONEY_WORDS) and "share" not in lowered:
        return "money"
    if any(w in lowered for w in _RATE_WORDS):
        return "rate"
    return "plain"


def _fmt(key: str, value: Any, currency: str) -> str:
    """A summary value formatted by what its name says it is: money with its currency, rates in %, counts with
    thousands separators, intervals as ``mean [low, high]``."""
    kind = _kind(key)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping) and {"mean", "low", "high"} <= set(value):
        parts = [_fmt(key, value[k], currency) for k in ("mean", "low", "high")]
        return f"{parts[0]} [{parts[1]}, {parts[2]}]"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if kind == "money":
            return _money(value, currency)
        if kind == "rate":
            lowered = key.lower()
            spread = "share" in lowered or lowered.endswith("_sd")
            signed = any(w in lowered for w in _SIGNED_WORDS) and not spread
            return _pct(value, signed=signed)
        return f"{value:,.4g}"
    return str(value)


def _setting(value: Any) -> str:
    """A spec value as a reader writes it: lists comma-separated, mappings as ``key=value``, empty as a dash."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "–"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "–"
    return "–" if value in ("", None) else str(value)


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " "))


def _rows(summary: Mapping[str, Any], currency: str, prefix: str = "") -> list[tuple[str, str]]:
    """Summary fields as (label, formatted value), the known ones first; nested sections (a newer report's
    verdict) flattened under their name."""
    out: list[tuple[str, str]] = []
    known = [k for k in _LABELS if k in summary]
    for key in known + [k for k in summary if k not in _LABELS]:
        value = summary[key]
        if key == "rejection_reasons":
            continue
        label = f"{prefix}{_label(key)}"
        if isinstance(value, Mapping) and not {"mean", "low", "high"} <= set(value):
            out += _rows(value, currency, prefix=f"{label}: ")
        elif isinstance(value, list):
            out.append((label, ", ".join(_fmt(key, v, currency) for v in value)))
        else:
            out.append((label, _fmt(key, value, currency)))
    return out


def _table(frame: pl.DataFrame, formats: Mapping[str, Callable[[Any], str]]) -> str:
    if frame.height == 0:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{html.escape(_HEADERS.get(c, c.replace('_', ' ')))}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            fmt = formats.get(column)
            text = "–" if value is None else fmt(value) if fmt else str(value)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(f'<td class="n">{html.escape(text)}</td>' if numeric else f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _pairs(rows: list[tuple[str, str]], header: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table><thead><tr><th>{header[0]}</th><th>{header[1]}</th></tr></thead><tbody>{body}</tbody></table>"


# ---- charts ---------------------------------------------------------------------------------------------------

_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
_COUNTER = re.compile(r"_?\d+$")


def _ids(text: str, key: str) -> str:
    """Every id of one SVG renamed ``{key}-{name}{n}``, numbered in order of appearance, references included.

    vl-convert numbers clip paths from 1 in every SVG, but legend gradients with a counter that runs on for the
    life of the process (``gradient_0``, then ``gradient_1`` in the next report): without renumbering, a page would
    depend on how many were drawn before it in that process, and two pages drawn on different Dask workers would
    differ. The ``key`` keeps two inline SVGs from clipping each other's marks."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name in _ID.findall(text):
        if name not in names:
            base = _COUNTER.sub("", name) or "id"
            counts[base] = counts.get(base, 0) + 1
            names[name] = f"{key}-{base}{counts[base]}"
    return _REF.sub(lambda m: m.group(1) + names.get(m.group(2), m.group(2)), text)


def svg(chart: Any, *, key: str) -> str:
    """One chart as inline SVG, its ids made unique on the page and independent of what was drawn before (``_ids``)."""
    import altair as alt
    import vl_convert as vlc

    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]
    # Unvalidated: the definitions are checked against the schema by the chart tests, and validating six specs of
    # thousands of rows each took longer than drawing them.
    text: str = vlc.vegalite_to_svg(chart.to_dict(validate=False), vl_version=version)
    text = _ids(re.sub(r"^<\?xml[^>]*>\s*", "", text), key)
    return f'<div class="chart" data-chart="{key}">{text}</div>'


def _charts(bets: pl.DataFrame, starting_bankroll: float, currency: str) -> list[str]:
    from betpipe import charts

    equity = tables.equity_frame(bets, starting_bankroll)
    if equity.height == 0:
        return ['<h2>Charts</h2><p class="note">No settled bets: nothing to chart.</p>']
    monthly = tables.period_frame(bets, starting_bankroll, every="1mo")
    yearly = tables.period_frame(bets, starting_bankroll, every="1y")
    with_clv = bets.filter(pl.col("clv").is_not_null())
    return [
        "<h2>Bankroll and drawdown</h2>",
        svg(charts.equity_curve(equity, currency=currency, starting_bankroll=starting_bankroll), key="equity"),
        svg(charts.drawdown_chart(equity), key="drawdown"),
        "<h2>Returns per month and year</h2>",
        svg(charts.monthly_heatmap(monthly), key="monthly"),
        svg(charts.period_returns(yearly, currency=currency, period="year"), key="yearly"),
        "<h2>Closing-line value</h2>",
        svg(charts.clv_histogram(with_clv.select("clv")), key="clv"),
        "<h2>Calibration</h2>",
        svg(charts.calibration_chart(tables.calibration_bins(bets)), key="calibration"),
    ]


# ---- page -----------------------------------------------------------------------------------------------------


def _cards(summary: Mapping[str, Any], currency: str) -> str:
    def centre(key: str) -> str:
        value = summary.get(key)
        return _fmt(key, value["mean"], currency) if isinstance(value, Mapping) else "–"

    profit = float(summary.get("profit") or 0.0)
    cards = [
        ("profit", _money(profit, currency), "pos" if profit > 0 else "neg" if profit < 0 else ""),
        ("yield", centre("yield"), ""),
        ("mean CLV", centre("mean_clv"), ""),
        ("settled bets", f"{int(summary.get('bets') or 0):,}", ""),
        ("turnover", _money(float(summary.get("turnover") or 0.0), currency), ""),
        ("final bankroll", _money(float(summary.get("final_bankroll") or 0.0), currency), ""),
        ("maximum drawdown", _fmt("max_drawdown", summary.get("max_drawdown"), currency), ""),
        ("hit rate", _fmt("hit_rate", summary.get("hit_rate"), currency), ""),
    ]
    body = "".join(
        f'<div class="card"><b class="{cls}">{html.escape(v)}</b><span>{k}</span></div>' for k, v, cls in cards
    )
    return f'<div class="cards">{body}</div>'


def _breakdowns(bets: pl.DataFrame, spec: Mapping[str, Any], currency: str) -> list[str]:
    formats: dict[str, Callable[[Any], str]] = {
        "bets": lambda v: f"{v:,}",
        "turnover": lambda v: _money(v, currency),
        "profit": lambda v: _money(v, currency),
        "yield": _pct,
        "hit_rate": lambda v: _pct(v, signed=False),
        "mean_clv": _pct,
        "CLV 95 %": lambda v: "± " + _pct(v, signed=False),
    }
    out = ["<h2>Per competition, book and market</h2>"]
    groups = (("Per competition", ["competition"]), ("Per book", ["book"]), ("Per market", ["market", "selection"]))
    for title, by in groups:
        frame = tables.breakdown(bets, by, spec=spec).rename({"clv_half": "CLV 95 %"})
        out += [f"<h3>{title}</h3>", _table(frame, formats)]
    out.append('<p class="note">CLV 95 %: normal-approximation interval of the mean CLV within the group.</p>')
    return out


def _restriction(document: Mapping[str, Any], spec: Mapping[str, Any], currency: str) -> list[str]:
    """Account restriction per book (issue 15): what each book took, when its maximum stake fell and after how many
    CLV wins, and the stake the restriction kept off: what could really have been staked. Nothing for a report
    whose runs recorded no per-book summary (an older report)."""
    frame = tables.restriction_frame(document.get("runs") or [])
    if frame.height == 0:
        return []
    after, cap, fraction = tables.restriction_limits(spec)
    out = ["<h2>Account restriction per book</h2>"]
    if after <= 0 and frame.get_column("bets cut").sum() == 0 and frame.get_column("refused").sum() == 0:
        note = "Account restriction off (the strategy sets no restrict_after_clv_wins): every stake was taken in full."
        return [*out, f'<p class="note">{html.escape(note)}</p>']
    caps = [f"{_money(float(cap), currency)} at most"] if float(cap) > 0 else []
    caps += [f"{_pct(float(fraction), signed=False)} of the stake asked"] if float(fraction) > 0 else []
    asked, kept = (float(frame.get_column(c).sum()) for c in ("asked on cut bets", "not staked"))
    takes = " or ".join(caps) + (", whichever is less" if len(caps) > 1 else "") or "a smaller stake"
    lead = (
        f"A book is restricted once it has lost {after:,} settled bets to the account by CLV; from then on it takes "
        f"{takes}. The restriction cut {frame.get_column('bets cut').sum():,} bets "
        f"and refused {frame.get_column('refused').sum():,}: of {_money(asked, currency)} asked on the cut bets, "
        f"{_money(kept, currency)} could not really have been staked."
    )
    amounts = ("staked", "asked on cut bets", "staked on cut bets", "not staked")
    formats: dict[str, Callable[[Any], str]] = {c: lambda v: _money(v, currency) for c in amounts}
    formats |= {c: lambda v: f"{v:,}" for c in ("bets", "CLV wins", "bets cut", "refused")}
    return [*out, f"<p>{html.escape(lead)}</p>", _table(frame, formats)]


def _refusals(reasons: Mapping[str, int], no_bet: Mapping[str, int] | None) -> list[str]:
    out = ["<h2>Bets refused and not made</h2>", "<h3>Refused by a risk rule</h3>"]
    out.append(_table(tables.refusals_by_rule(reasons), {"bets": lambda v: f"{v:,}"}))
    if no_bet:
        frame = pl.DataFrame({"reason": list(no_bet), "selections": [int(v) for v in no_bet.values()]})
        out += [
            "<h3>Not bet (before the ledger)</h3>",
            _table(frame.sort("selections", descending=True), {"selections": lambda v: f"{v:,}"}),
        ]
    return out


def _verdict(verdict: Mapping[str, Any], summary: Mapping[str, Any], currency: str) -> list[str]:
    """The report's verdict section (bets needed, without the top 1 %, the Shin close), when the report has one;
    its per-book part is already in the per-book table, figures the summary shows are not repeated, and its method
    becomes a note."""
    shown = {k: v for k, v in verdict.items() if k not in ("per_book", "method") and summary.get(k) != v}
    if not shown:
        return []
    out = ["<h2>Verdict figures</h2>", _pairs(_rows(shown, currency), ("figure", "value"))]
    if verdict.get("method"):
        out.append(f'<p class="note">{html.escape(str(verdict["method"]))}</p>')
    return out


def _comparisons(document: Mapping[str, Any], comparisons: Mapping[str, Any] | None, currency: str) -> list[str]:
    rows = [(f"vs {k}, own thresholds", _fmt("clv", v, currency)) for k, v in (comparisons or {}).items()]
    rows += [
        (f"vs {k}, cut to as many bets", _fmt("clv", v, currency))
        for k, v in (document.get("equal_count_clv_difference") or {}).items()
    ]
    if not rows:
        return []
    return ["<h2>Paired CLV differences</h2>", _pairs(rows, ("compared with", "mean CLV difference [95 %]"))]


def render_html(
    *,
    title: str,
    spec: dict[str, Any],
    summary: dict[str, Any],
    bets: pl.DataFrame,
    starting_bankroll: float,
    comparisons: dict[str, Any] | None = None,
    document: Mapping[str, Any] | None = None,
    currency: str | None = None,
) -> str:
    """The whole page as one string. ``document`` is the report's JSON (for the not-bet counts, equal-count
    differences and any verdict section); ``currency`` defaults to the spec's, else EUR (the ledger default)."""
    document = document or {}
    money = currency or str(spec.get("currency") or "EUR")
    competitions = ", ".join(spec.get("competitions") or [])
    seasons = f"{spec.get('first_season', '?')} to {spec.get('last_season', '?')}"
    books = tables.spec_books(spec)
    where = f"bets at {books[0]}" if len(books) == 1 else f"best price among {', '.join(books) or '?'}"
    found = document.get("verdict")
    verdict: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(competitions)}, {html.escape(seasons)}, {html.escape(where)}, '
        f"starting bankroll {_money(starting_bankroll, money)}</p>",
        f'<p class="verdict">{html.escape(tables.verdict_paragraph(summary, bets, verdict))}</p>',
        _cards(summary, money),
        *_charts(bets, starting_bankroll, money),
        *_breakdowns(bets, spec, money),
        *_restriction(document, spec, money),
        "<h2>All figures</h2>",
        _pairs(_rows(summary, money), ("figure", "value")),
        *_verdict(verdict, summary, money),
        *_refusals(summary.get("rejection_reasons") or {}, document.get("no_bet")),
        *_comparisons(document, comparisons, money),
        "<h2>Settings</h2>",
        _pairs(
            [(k, _money(float(v), money) if k == "bankroll" else _setting(v)) for k, v in spec.items()],
            ("setting", "value"),
        ),
        '<p class="note">CLV = price taken × margin-free (multiplicative) sharp closing probability − 1. Intervals: '
        "bootstrap 95 %, 2,000 resamples of bets, seed 0, unless marked otherwise. Yield = profit per unit staked; "
        "ROI = profit over the starting bankroll. Dates are UTC; returns are counted on the settlement date.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
