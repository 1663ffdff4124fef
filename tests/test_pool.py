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


def test_requests_with_room_share_one_class_whatever_their_length() -> None:
    # A window of any length (the last one of a sentence is as short as what is left) reuses
    # the buffer its longest sibling made: one miss, then hits.
    pool = BufferPool()
    for length in (130, 13, 77, 1, 130, 64):
        with pool.lend((1, 192, length), room=192 * 130) as x:
            assert x.shape == (1, 192, length)
    assert (pool.stats().misses, pool.stats().hits) == (1, 5)
    for length in (130, 13):  # without room, a short one needs a class of its own
        with pool.lend((1, 192, length)):
            pass
    assert pool.stats().misses == 2
