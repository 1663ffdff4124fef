"""Calibration in strides (prepare/quantize.py): onnxruntime histograms one stride of windows at a
time, and asks that the stride divide the number of windows."""

import numpy as np

from edgesay.prepare.quantize import _Feeds, stride


def test_the_stride_divides_the_windows_and_is_at_most_eight() -> None:
    assert [stride(n) for n in (1, 3, 13, 16, 60, 61, 64)] == [1, 3, 1, 8, 6, 1, 8]
    for count in range(1, 200):
        assert count % stride(count) == 0 and 1 <= stride(count) <= 8


def test_feeds_read_in_strides_cover_every_window_once() -> None:
    feeds = [{"z": np.full(1, n, np.float32)} for n in range(12)]
    reader = _Feeds(feeds)
    seen = []
    step = stride(len(reader))
    for start in range(0, len(reader), step):
        reader.set_range(start_index=start, end_index=start + step)
        while (item := reader.get_next()) is not None:
            seen.append(int(item["z"][0]))
    assert seen == list(range(12))
