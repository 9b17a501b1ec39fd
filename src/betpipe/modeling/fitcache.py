"""A fit cache scoped to one evaluation: the same deterministic fit on the same bytes is done once, not a dozen times.

Why: the soccer evaluation walks the GBM forward season by season, and every step refits it out of fold on the
seasons before each of its last three seasons, then on all of them; ``gbm`` and both market blends share that base.
So "LightGBM on seasons before S" was fitted up to twelve times per season with identical inputs. A model that is
deterministic given (hyper-parameters, thread count, input bytes) asks ``cached`` for its fit; outside a
``fit_cache()`` block (training, serving, tests) nothing is stored and every fit runs as before. The key is a hash
of the exact input arrays, never of row ids, so a hit can only ever return what the fit would have produced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass
class FitCache:
    """Fitted objects by input fingerprint, with hit/miss counts (the evaluation reports how much it saved)."""

    entries: dict[bytes, Any] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0


_ACTIVE: ContextVar[FitCache | None] = ContextVar("betpipe_fit_cache", default=None)


@contextmanager
def fit_cache() -> Iterator[FitCache]:
    """Within this block, ``cached`` fits are memoised; the cache (and what it holds) ends with the block."""
    cache = FitCache()
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)


def fingerprint(what: str, settings: object, *arrays: np.ndarray[Any, Any]) -> bytes:
    """A digest of a fit's kind, its settings (their ``repr``) and the exact bytes, shapes and dtypes of its inputs."""
    digest = hashlib.blake2b(digest_size=32)
    digest.update(what.encode())
    digest.update(repr(settings).encode())
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.view(np.uint8).reshape(-1).data)
    return digest.digest()


def cached(key: Callable[[], bytes], fit: Callable[[], T]) -> T:
    """``fit()``, or what an identical earlier call returned while a ``fit_cache()`` block is active."""
    cache = _ACTIVE.get()
    if cache is None:
        return fit()
    digest = key()
    if digest in cache.entries:
        cache.hits += 1
        return cache.entries[digest]  # type: ignore[no-any-return]
    cache.misses += 1
    result = fit()
    cache.entries[digest] = result
    return result
