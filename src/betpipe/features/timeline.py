"""Sorted per-group time indexes: "the last row of group g strictly before instant t", vectorised.

Every point-in-time read goes through ``Timeline.last_before``. Rows are keyed by (group, milliseconds since 1900) in
one int64, sorted with the event id as the explicit tie-breaker, so among rows known at the same instant the one of
the highest event id wins (never an arbitrary pick). Instants are floored to milliseconds on both sides and the
comparison is strict, so flooring can only hide a row, never reveal one early. Never looks at or after ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numba import njit
from numpy.typing import NDArray

_EPOCH_1900_MS = -2_208_988_800_000
_TIME_BITS = 44  # 2**44 ms is 557 years after 1900
MAX_GROUPS = 1 << (63 - _TIME_BITS)

IntArray = NDArray[np.int64]


def to_ms(times: pl.Series | pl.Expr) -> IntArray:
    """UTC datetimes as int64 milliseconds since 1900 (the key's time part)."""
    assert isinstance(times, pl.Series)
    raw = times.dt.cast_time_unit("ms").dt.replace_time_zone(None).cast(pl.Int64).to_numpy()
    return np.asarray(raw, dtype=np.int64) - _EPOCH_1900_MS


def keys(group: IntArray, ms: IntArray) -> IntArray:
    if group.size <= 4:  # single lookups: Python's min/max of a few items, not four array reductions
        low_group, high_group = min(group.tolist(), default=0), max(group.tolist(), default=0)
        low_ms, high_ms = min(ms.tolist(), default=0), max(ms.tolist(), default=0)
    else:
        low_group, high_group, low_ms, high_ms = group.min(), group.max(), ms.min(), ms.max()
    if high_group >= MAX_GROUPS or low_group < 0:
        raise ValueError(f"group index out of range for a timeline key (max {MAX_GROUPS - 1})")
    if low_ms < 0 or high_ms >= 1 << _TIME_BITS:
        raise ValueError("timestamps before 1900 or after 2457 cannot be indexed")
    return (group.astype(np.int64, copy=False) << _TIME_BITS) | ms.astype(np.int64, copy=False)


@dataclass(frozen=True)
class Timeline:
    """Row order for a state table: ``order[i]`` is the table row at sorted position i."""

    sorted_keys: IntArray
    order: IntArray

    @classmethod
    def build(cls, group: IntArray, ms: IntArray, event_id: IntArray, *, sides: bool = False) -> Timeline:
        """``sides``: the rows are two halves for the two sides of the same games, usually in (ms, event_id) order,
        which ``sides_order`` sorts by one counting pass (the lexsort's permutation)."""
        key = keys(group, ms)
        if sides:
            order = group_order(group, ms, event_id, interleave(key.size))
            if order is not None:
                return cls(sorted_keys=key[order], order=order)
        step, tie = np.diff(key), np.diff(event_id)
        if bool(np.all((step > 0) | ((step == 0) & (tie >= 0)))):  # stored tables come sorted: skip the sort
            return cls(sorted_keys=key, order=np.arange(key.size, dtype=np.int64))
        order = np.lexsort((event_id, key)).astype(np.int64)
        return cls(sorted_keys=key[order], order=order)

    def last_before(self, group: IntArray, ms: IntArray, needles: IntArray | None = None) -> IntArray:
        """Table row of each group's last entry strictly before ``ms``; -1 where there is none.

        ``needles`` (an order that sorts the queries; see ``query_order``) makes large batches cache-friendly.
        """
        query = keys(group, ms)
        if query.size == 1:  # a single lookup: the same search and checks on Python integers
            at = int(np.searchsorted(self.sorted_keys, query[0], side="left")) - 1
            hit = at >= 0 and int(self.sorted_keys[at]) >> _TIME_BITS == int(group[0])
            return np.array([int(self.order[at]) if hit else -1], dtype=np.int64)
        if needles is None and query.size > 4096:
            needles = query_order(group, ms)
        if needles is not None:
            position = np.empty_like(query)
            position[needles] = search_sorted(self.sorted_keys, query[needles]) - 1
        else:
            position = np.searchsorted(self.sorted_keys, query, side="left") - 1
        found = position >= 0
        safe = np.where(found, position, 0)
        if self.sorted_keys.size == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        same_group = (self.sorted_keys[safe] >> _TIME_BITS) == group
        return np.where(found & same_group, self.order[safe], -1)

    def search(self, group: IntArray, ms: IntArray, needles: IntArray | None = None) -> IntArray:
        """``np.searchsorted(sorted_keys, keys(group, ms), side="left")`` (``needles`` as in ``last_before``): the
        first entry at or after each query, from which ``before`` and counts follow without searching again."""
        query = keys(group, ms)
        if needles is None:
            return np.searchsorted(self.sorted_keys, query, side="left").astype(np.int64)
        position = np.empty_like(query)
        position[needles] = search_sorted(self.sorted_keys, query[needles])
        return position

    def before(self, group: IntArray, position: IntArray) -> IntArray:
        """``last_before`` from ``search``'s positions: the entry just before each, if it is of the same group."""
        if self.sorted_keys.size == 0:
            return np.full(position.shape, -1, dtype=np.int64)
        position = position - 1
        found = position >= 0
        safe = np.where(found, position, 0)
        same_group = (self.sorted_keys[safe] >> _TIME_BITS) == group
        return np.where(found & same_group, self.order[safe], -1)

    def previous_and_counts(
        self, group: IntArray, ms: IntArray, spans_ms: IntArray, needles: IntArray
    ) -> tuple[IntArray, IntArray] | None:
        """(``before(group, search(group, ms))``, and per span s ``search(group, ms) - search(group, max(ms - s, 0))``)
        by one compiled merge of the keys with the queries taken in ``needles`` order (``query_order``), instead of a
        gather, a merge and a scatter per search: the same positions. None if the queries do not ascend that way."""
        keys(group, ms)  # the range checks; max(ms - s, 0) stays in range
        previous, counts, ascending = _previous_and_counts(
            self.sorted_keys,
            self.order,
            np.asarray(group, np.int64),
            np.asarray(ms, np.int64),
            np.asarray(spans_ms, np.int64),
            np.asarray(needles, np.int64),
        )
        return (previous, counts) if ascending else None

    def count_between(
        self, group: IntArray, start_ms: IntArray, end_ms: IntArray, needles: IntArray | None = None
    ) -> IntArray:
        """Entries of each group with start_ms <= time < end_ms (``needles``: an order sorting (group, end_ms),
        which also sorts (group, end_ms - span) for a fixed span)."""
        lo = keys(group, np.maximum(start_ms, 0))
        hi = keys(group, end_ms)
        if needles is None:
            return (np.searchsorted(self.sorted_keys, hi) - np.searchsorted(self.sorted_keys, lo)).astype(np.int64)
        count = np.empty_like(hi)
        count[needles] = search_sorted(self.sorted_keys, hi[needles]) - search_sorted(self.sorted_keys, lo[needles])
        return count


def query_order(group: IntArray, ms: IntArray) -> IntArray:
    """The order sorting queries by (group, time): binary searches in that order are about 6x faster. It also
    sorts (2 * group + c, time) for a constant c, so one order serves a team's and its venue's timelines.

    Queries already in time order (the training matrix's events, sorted by kickoff) are ordered by a stable sort of
    the group alone, a radix sort when groups fit 15 bits: the same permutation, as ties keep their order either
    way, for a fraction of the time."""
    key = keys(group, ms)
    if key.size > 4096 and int(group.max()) < 1 << 15 and bool(np.all(ms[1:] >= ms[:-1])):
        return np.argsort(group.astype(np.int16), kind="stable").astype(np.int64)
    return np.argsort(key, kind="stable").astype(np.int64)


def search_sorted(sorted_keys: IntArray, queries: IntArray) -> IntArray:
    """``np.searchsorted(sorted_keys, queries, side="left")``; when the queries are ascending too (the batch paths
    pass them in ``query_order``) and not far fewer than the keys, one compiled merge pass over both instead of a
    binary search per query: the same positions for a fraction of the time."""
    if queries.size > 4096 and sorted_keys.size < 64 * queries.size and bool(np.all(queries[1:] >= queries[:-1])):
        return _merge_positions(sorted_keys, queries)
    return np.searchsorted(sorted_keys, queries, side="left").astype(np.int64)


@njit(cache=True, nogil=True)
def _previous_and_counts(
    sorted_keys: IntArray, order: IntArray, group: IntArray, ms: IntArray, spans: IntArray, needles: IntArray
) -> tuple[IntArray, IntArray, bool]:  # pragma: no cover - compiled
    n, m = needles.shape[0], sorted_keys.shape[0]
    previous = np.full(group.shape[0], -1, dtype=np.int64)
    counts = np.zeros((spans.shape[0], group.shape[0]), dtype=np.int64)
    start = np.zeros(spans.shape[0], dtype=np.int64)
    end, last = 0, np.iinfo(np.int64).min
    for k in range(n):
        q = needles[k]
        key = (group[q] << _TIME_BITS) | ms[q]
        if key < last:
            return previous, counts, False
        last = key
        while end < m and sorted_keys[end] < key:
            end += 1
        if end > 0 and sorted_keys[end - 1] >> _TIME_BITS == group[q]:
            previous[q] = order[end - 1]
        for s in range(spans.shape[0]):
            low = (group[q] << _TIME_BITS) | max(ms[q] - spans[s], 0)
            while start[s] < m and sorted_keys[start[s]] < low:
                start[s] += 1
            counts[s, q] = end - start[s]
    return previous, counts, True


@njit(cache=True, nogil=True)
def _merge_positions(sorted_keys: IntArray, queries: IntArray) -> IntArray:  # pragma: no cover - compiled
    out = np.empty(queries.shape[0], dtype=np.int64)
    j = 0
    for i in range(queries.shape[0]):
        while j < sorted_keys.shape[0] and sorted_keys[j] < queries[i]:
            j += 1
        out[i] = j
    return out


def scatter_take(data: NDArray[np.float64], rows: IntArray, to: IntArray) -> NDArray[np.float64]:
    """``out[to] = data[rows]`` in one compiled pass, without numpy's intermediate array: the training matrix reads
    each form column at ascending ``rows`` and writes each value to its event's position ``to``."""
    out = np.empty(rows.shape[0], dtype=np.float64)
    _scatter_take(data, rows, to, out)
    return out


@njit(cache=True, nogil=True)
def _scatter_take(
    data: NDArray[np.float64], rows: IntArray, to: IntArray, out: NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    for i in range(rows.shape[0]):
        out[to[i]] = data[rows[i]]


def sides_order(group: IntArray, time: IntArray, tie: IntArray) -> IntArray:
    """``np.lexsort((tie, time, group))`` for rows that are two halves, one per side of the same games (home rows,
    then away rows), as the state timelines stack them.

    When the games come in (time, tie) order, the rows taken game by game (home, away) and stably counted by group
    are already in that order; that is checked (strictly increasing (group, time, tie), so the sort has one answer)
    and the lexsort runs only when the check fails: the same permutation for a fraction of the cost."""
    candidate = group_order(group, time, tie, interleave(group.shape[0]))
    return candidate if candidate is not None else np.lexsort((tie, time, group)).astype(np.int64)


def interleave(n: int) -> IntArray:
    """Row numbers of two stacked halves taken pairwise: 0, n/2, 1, n/2 + 1, ... (the rows in order if n is odd)."""
    if n % 2:
        return np.arange(n, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    out[0::2] = np.arange(n // 2)
    out[1::2] = np.arange(n // 2, n)
    return out


def group_order(group: IntArray, time: IntArray, tie: IntArray, sequence: IntArray) -> IntArray | None:
    """``sequence`` stably sorted by group (``counting_sort``) if that is the order of strictly increasing
    (group, time, tie); None if it is not, or groups are negative or too many to count."""
    if not all(np.issubdtype(a.dtype, np.integer) for a in (group, time, tie)):
        return None  # a float column (nulls as NaN) sorts by numpy's NaN rule: left to the lexsort
    if sequence.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    order = counting_sort(sequence, group)
    if order is None:
        return None
    strict = _strictly_sorted(order, np.asarray(group, np.int64), np.asarray(time, np.int64), np.asarray(tie, np.int64))
    return order if strict else None


def counting_sort(sequence: IntArray, group: IntArray) -> IntArray | None:
    """``sequence[np.argsort(group[sequence], kind="stable")]`` by one counting pass (None for negative groups or
    more groups than four per row, where counting does not pay)."""
    if sequence.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    low, high = int(group.min()), int(group.max())
    if low < 0 or high > 4 * group.shape[0] + 1024:
        return None
    return _counting_sort(np.asarray(sequence, np.int64), np.asarray(group, np.int64), high + 1)


@njit(cache=True, nogil=True)
def _counting_sort(sequence: IntArray, group: IntArray, n_groups: int) -> IntArray:  # pragma: no cover - compiled
    start = np.zeros(n_groups + 1, dtype=np.int64)
    for k in range(sequence.shape[0]):
        start[group[sequence[k]] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    out = np.empty(sequence.shape[0], dtype=np.int64)
    for k in range(sequence.shape[0]):
        i = sequence[k]
        g = group[i]
        out[start[g]] = i
        start[g] += 1
    return out


@njit(cache=True, nogil=True)
def _strictly_sorted(order: IntArray, group: IntArray, time: IntArray, tie: IntArray) -> bool:  # pragma: no cover
    for k in range(1, order.shape[0]):
        a, b = order[k - 1], order[k]
        if group[a] != group[b]:
            if group[a] > group[b]:
                return False
        elif time[a] != time[b]:
            if time[a] > time[b]:
                return False
        elif tie[a] >= tie[b]:  # equal keys would leave the order to the sort's tie rule: not taken
            return False
    return True


@njit(cache=True, nogil=True)
def run_order(
    event: IntArray, instant: IntArray, book: IntArray
) -> tuple[IntArray, bool]:  # pragma: no cover - compiled
    """The permutation putting rows in (event, instant, book) order when each event's rows are contiguous and the
    events ascend: every run of one event sorted on its own (a few rows, insertion sort); with whether the result
    is strictly increasing (else the order is not the sort's and the caller sorts the frame)."""
    n = event.shape[0]
    order = np.arange(n)
    start = 0
    for i in range(1, n + 1):
        if i < n and event[i] == event[start]:
            continue
        for j in range(start + 1, i):  # insertion sort of the run by (instant, book)
            row = order[j]
            k = j - 1
            while k >= start and (
                instant[order[k]] > instant[row] or (instant[order[k]] == instant[row] and book[order[k]] > book[row])
            ):
                order[k + 1] = order[k]
                k -= 1
            order[k + 1] = row
        start = i
    for j in range(1, n):
        a, b = order[j - 1], order[j]
        if not (
            event[a] < event[b]
            or (event[a] == event[b] and (instant[a] < instant[b] or (instant[a] == instant[b] and book[a] < book[b])))
        ):
            return order, False
    return order, True


def rows_increasing(frame: pl.DataFrame, columns: tuple[str, ...]) -> bool:
    """Whether ``frame`` is strictly increasing in ``columns`` (integer, boolean, temporal or enum; no nulls), so
    that sorting by them has exactly one answer: the rows as they are. Anything else answers False."""
    if frame.height < 2:
        return frame.height == 0 or not any(frame[c].null_count() for c in columns)
    stacked = np.empty((len(columns), frame.height), dtype=np.int64)
    for k, name in enumerate(columns):
        column = frame[name]
        if column.null_count() or not (
            column.dtype.is_integer()
            or column.dtype.is_temporal()
            or column.dtype in (pl.Boolean,)
            or isinstance(column.dtype, pl.Enum)
        ):
            return False
        physical = column.to_physical()
        if physical.dtype == pl.UInt64 and int(physical.max()) > np.iinfo(np.int64).max:  # type: ignore[arg-type]
            return False
        stacked[k] = physical.to_numpy()
    return bool(_rows_increasing(stacked))


def left_join_on_event(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """``left.join(right, on="event_id", how="left", maintain_order="left")`` for a ``right`` with one row per event
    in ascending id order (bench columns): each left id found by a binary search and right's rows gathered, instead
    of a hash join. Anything else (null ids, repeated or unordered right ids, other id types, a column name in
    both) takes the join."""
    ids, key = left["event_id"], right["event_id"]
    if (
        ids.null_count()
        or ids.dtype != key.dtype
        or not key.dtype.is_integer()
        or not key.len()
        or set(left.columns) & (set(right.columns) - {"event_id"})
        or not rows_increasing(right, ("event_id",))
    ):
        return left.join(right, on="event_id", how="left", maintain_order="left")
    wanted, present = ids.to_numpy(), key.to_numpy()
    if wanted.shape == present.shape and np.array_equal(wanted, present):  # the same events in the same order
        return left.hstack(right.drop("event_id"))
    position = np.minimum(search_sorted(present, wanted), present.size - 1)
    found = present[position] == wanted
    rest = right.drop("event_id")[position]
    if not bool(found.all()):
        mask = pl.Series(found)
        rest = rest.select(pl.when(mask).then(pl.col(c)).alias(c) for c in rest.columns)
    return left.hstack(rest)


@njit(cache=True, nogil=True)
def _rows_increasing(keys: IntArray) -> bool:  # pragma: no cover - compiled
    for i in range(1, keys.shape[1]):
        for k in range(keys.shape[0]):
            if keys[k, i - 1] < keys[k, i]:
                break
            if keys[k, i - 1] > keys[k, i] or k == keys.shape[0] - 1:
                return False
    return True


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the merge, the scatter and the ordering kernels, so timings can
    separate JIT cost from the run."""
    _merge_positions(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
    scatter_take(np.zeros(1, dtype=np.float64), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
    one = np.zeros(2, dtype=np.int64)
    sides_order(one, one, one + np.arange(2))
    _rows_increasing(np.zeros((1, 2), dtype=np.int64))
    column = np.zeros(2, dtype=np.int64)
    column.flags.writeable = False  # team indexes and kickoffs as polars hands them over without a copy
    Timeline(one, one).previous_and_counts(column, column, one[:1], np.arange(2))
    _merge_positions(column, column)  # event ids of two frames (the bench joins)
