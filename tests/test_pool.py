import numpy as np
import pytest

from edgesay.system.pool import BufferPool


def test_buffers_are_reused_across_sizes_within_a_class() -> None:
    pool = BufferPool()
    a = pool.take((1, 192, 300))
    pool.give(a)
    b = pool.take((1, 192, 310))  # same power-of-two class
    assert b.shape == (1, 192, 310) and b.dtype == np.float32
    pool.give(b)
    stats = pool.stats()
    assert (stats.misses, stats.hits, stats.buffers, stats.bytes_in_use) == (1, 1, 1, 0)
    assert stats.high_water == stats.bytes_held >= 192 * 310 * 4


def test_lend_gives_back_on_error() -> None:
    pool = BufferPool()
    with pytest.raises(RuntimeError), pool.lend((10,), np.int16):
        raise RuntimeError
    assert pool.stats().bytes_in_use == 0


def test_foreign_arrays_are_refused() -> None:
    with pytest.raises(ValueError):
        BufferPool().give(np.zeros(10))
