"""Our own Dask cluster's workers are told to keep shutdown noise off stderr before the cluster closes.

On a loaded machine a worker's heartbeat can meet a closing scheduler and the worker process prints "Failed to
communicate with scheduler during heartbeat" with a traceback after a successful backtest; that happens in another
process, so only the workers themselves can be quietened. ``-v`` keeps every line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from betpipe import logs
from betpipe.backtest.runner import _quiet_workers_for_shutdown


def _levels() -> dict[str, int]:
    return {name: logging.getLogger(name).level for name in ("distributed.worker", "distributed.core")}


@pytest.fixture
def client() -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # 8787 may be another cluster's
    )
    with Client(cluster) as connected:
        yield connected
    cluster.close()


def test_workers_silence_shutdown_noise_unless_verbose(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(logs._state, "verbose", True)  # what -v sets
    _quiet_workers_for_shutdown(client)
    [before] = client.run(_levels).values()
    assert before["distributed.worker"] != logging.CRITICAL
    monkeypatch.setitem(logs._state, "verbose", False)
    _quiet_workers_for_shutdown(client)
    [after] = client.run(_levels).values()
    assert after == {"distributed.worker": logging.CRITICAL, "distributed.core": logging.CRITICAL}
