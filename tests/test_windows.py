import pytest

from edgesay.runtime.windows import plan_windows


@pytest.mark.parametrize("total", [1, 44, 45, 50, 100, 128, 129, 130, 200, 233, 896, 5000])
def test_windows_cover_every_frame_once_with_context(total: int) -> None:
    first, size, pad = 44, 128, 12
    windows = plan_windows(total, first, size, pad)
    kept = [f for w in windows for f in range(w.keep_start, w.keep_stop)]
    assert kept == list(range(total))
    for w in windows:
        assert 0 <= w.start <= w.keep_start < w.keep_stop <= w.stop <= total
        # Context on each side that is not a sentence edge:
        assert w.start == 0 or w.keep_start - w.start >= pad
        assert w.stop == total or w.stop - w.keep_stop >= pad
    if total > size:  # the first window, then one size for all the others but the last
        assert windows[0].stop - windows[0].start == first
        assert {w.stop - w.start for w in windows[1:-1]} <= {size}
        assert windows[-1].stop - windows[-1].start <= size
        # No more context recomputed than the edges need: each window starts `pad` before
        # what it keeps, so the last one holds only what is left.
        assert all(w.keep_start - w.start == pad for w in windows[1:])
    elif total > first:  # short: the small first window still comes first, then the rest
        assert len(windows) == 2 and windows[0].stop - windows[0].start == first


def test_bad_window_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_windows(100, 10, 20, 12)


@pytest.mark.parametrize("total", [1, 77, 78, 100, 170, 250, 578, 1000, 5000])
def test_a_second_window_of_its_own_size(total: int) -> None:
    # The flow's plan when it runs ahead on a thread: a small first, one decoder window's worth
    # next, then long windows; still every frame once, with context.
    first, second, size, pad = 78, 170, 578, 33
    windows = plan_windows(total, first, size, pad, second)
    assert [f for w in windows for f in range(w.keep_start, w.keep_stop)] == list(range(total))
    assert all(w.start == 0 or w.keep_start - w.start == pad for w in windows)
    assert all(w.stop == total or w.stop - w.keep_stop >= pad for w in windows)
    lengths = [w.stop - w.start for w in windows]
    if len(windows) > 2:
        assert lengths[:2] == [first, second] and set(lengths[2:-1]) <= {size} and lengths[-1] <= size
    with pytest.raises(ValueError):
        plan_windows(total, first, size, pad, second=2 * pad)
