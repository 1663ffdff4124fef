"""Where the decoder's overlapping windows fall, as pure arithmetic on frame indices."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: int  # first input frame fed to the model
    stop: int  # one past the last input frame
    keep_start: int  # first frame whose output is exact and not yet emitted
    keep_stop: int  # one past the last such frame


def plan_windows(total: int, first: int, size: int, pad: int) -> list[Window]:
    """Cover frames [0, total) with windows of `first` then `size` frames.

    Each window's output is exact for frames at least `pad` away from an edge it shares with
    a neighbour (at the sentence's own edges the whole-sentence run pads the same way, so the
    output is exact up to the edge). The last window is aligned to the end of the sentence
    rather than shortened, so every window but a short sentence's only one has a fixed shape.
    """
    if not (0 < pad * 2 < size and pad < first <= size):
        raise ValueError(f"window sizes first={first} size={size} do not fit pad={pad}")
    if total <= size:
        return [Window(0, total, 0, total)] if total > 0 else []
    windows = []
    emitted, length = 0, first
    while emitted < total:
        start = max(0, emitted - pad)
        stop = start + length
        if stop >= total:
            start, stop = total - length, total
        keep_stop = total if stop == total else stop - pad
        windows.append(Window(start, stop, emitted, keep_stop))
        emitted, length = keep_stop, size
    return windows
