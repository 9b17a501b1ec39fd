"""Run the benchmarks, print one table, write JSON with the machine's description next to every figure.

Each module ``bench/bench_<name>.py`` exposes ``run(quick: bool = False) -> list[dict[str, object]]``.
Figures are what this machine measured; the JSON records cores, memory and versions so they can be compared.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

BENCHMARKS = (
    "ingest",
    "features",
    "modeling",
    "evaluate",
    "backtest",
    "contention",
    "serving",
    "monitoring",
    "dashboard",
    "startup",
)
RESULTS_DIR = Path(__file__).with_name("results")


def machine() -> dict[str, object]:
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 1024**3, 1)
    except (ValueError, OSError):
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help=f"subset of {BENCHMARKS}")
    parser.add_argument("--quick", action="store_true", help="skip the largest cases")
    args = parser.parse_args()
    console = Console(width=160)
    info = machine()
    console.print(f"machine: {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}")
    RESULTS_DIR.mkdir(exist_ok=True)
    failures = 0
    for name in args.names:
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.perf_counter()
        try:
            rows = module.run(quick=args.quick)
        except Exception as error:  # one broken benchmark must not hide the others' figures
            console.print(f"[red]{name} failed: {error!r}[/red]")
            failures += 1
            continue
        elapsed = time.perf_counter() - started
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        table = Table(title=f"{name} ({elapsed:.1f} s in all, {info['cores']} cores)")
        for column in columns:
            table.add_column(column, justify="left" if column in {"benchmark", "backend"} else "right")
        for row in rows:
            table.add_row(*[_fmt(row.get(column)) for column in columns])
        console.print(table)
        out = RESULTS_DIR / f"{name}.json"
        out.write_text(
            json.dumps(
                {"benchmark": name, "measured_at": datetime.now(UTC).isoformat(), "machine": info, "rows": rows},
                indent=2,
                default=str,
            )
        )
        console.print(f"wrote {out}")
    return 1 if failures else 0


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
