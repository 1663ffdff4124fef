"""Preallocated, reusable buffers, so memory stays flat however long the session.

Buffers are kept in size classes (powers of two), so one buffer serves every request up to
its class: a sentence of 300 frames and one of 310 share it. A request is a *hit* when a
free buffer of its class exists, a *miss* when a new one must be allocated. After a
warm-up, synthesis makes no misses; the TUI and the benchmarks read `stats()`.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

_MIN_CLASS = 4096  # bytes; below this, size classes are not worth telling apart


@dataclass(frozen=True)
class PoolStats:
    hits: int
    misses: int
    bytes_held: int  # all buffers the pool owns, free or lent out
    bytes_in_use: int
    high_water: int  # most bytes ever lent out at once
    buffers: int


def _size_class(nbytes: int) -> int:
    return max(_MIN_CLASS, 1 << max(0, nbytes - 1).bit_length())


class BufferPool:
    """Lends out numpy arrays of any shape, backed by reusable byte buffers. Thread-safe."""

    def __init__(self) -> None:
        self._free: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()
        self._hits = self._misses = self._held = self._in_use = self._high_water = self._count = 0

    def take(self, shape: tuple[int, ...], dtype: type = np.float32, room: int = 0) -> np.ndarray:
        """An array of `shape` (uninitialized); give it back with `give`. `room`: the most
        elements this kind of request ever asks for; its class is then that one's, so requests
        whose shapes vary (windows of any length) share one class and never need a new buffer."""
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        size = _size_class(max(nbytes, room * np.dtype(dtype).itemsize))
        with self._lock:
            free = self._free.setdefault(size, [])
            if free:
                raw = free.pop()
                self._hits += 1
            else:
                raw = np.empty(size, dtype=np.uint8)
                self._misses += 1
                self._held += size
                self._count += 1
            self._in_use += size
            self._high_water = max(self._high_water, self._in_use)
        return raw[:nbytes].view(dtype).reshape(shape)

    def give(self, array: np.ndarray) -> None:
        raw = array.base
        while raw is not None and raw.base is not None:
            raw = raw.base
        if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("this array was not lent by a BufferPool")
        with self._lock:
            self._free.setdefault(raw.size, []).append(raw)
            self._in_use -= raw.size

    @contextmanager
    def lend(self, shape: tuple[int, ...], dtype: type = np.float32, room: int = 0) -> Iterator[np.ndarray]:
        array = self.take(shape, dtype, room)
        try:
            yield array
        finally:
            self.give(array)

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(self._hits, self._misses, self._held, self._in_use, self._high_water, self._count)
