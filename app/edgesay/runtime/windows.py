"""Where the flow's and the decoder's overlapping windows fall: their sizes, and the plan over a
sentence as pure arithmetic on frame indices.

The sizes are the engine's, and preparation calibrates on windows of the same steady size
(prepare/calibrate.py reads them here), so INT8 ranges are measured on what the engine runs.
"""

from dataclasses import dataclass

# Decoder windows, in frames of exact output (the model sees `pad` more on each side).
# The first is small for time to first audio; the rest are as small as keeps the overlap
# cost low, because decoder memory grows with the window, not with the sentence.
FIRST_WINDOW_FRAMES = 32
WINDOW_FRAMES = 104
# The flow is cheap per frame and small in memory but needs more context (33 frames for joe):
# larger windows, so its context is recomputed less often (256 -> 512 frames: the flow's time
# on the shared sentences 0.021 -> 0.018 s per second of audio at 1 thread, FP32).
FLOW_WINDOW_FRAMES = 512


@dataclass(frozen=True)
class Window:
    start: int  # first input frame fed to the model
    stop: int  # one past the last input frame
    keep_start: int  # first frame whose output is exact and not yet emitted
    keep_stop: int  # one past the last such frame


@dataclass(frozen=True)
class WindowSizes:
    """Frames a model sees in its first window and in every later one, and the context `pad`
    (the voice's receptive field for that model) on each side of a shared edge."""

    first: int
    size: int
    pad: int
    second: int = 0  # the second window, if not `size`

    def plan(self, total: int) -> list[Window]:
        return plan_windows(total, self.first, self.size, self.pad, self.second)


def decoder_sizes(decoder_pad: int) -> WindowSizes:
    return WindowSizes(FIRST_WINDOW_FRAMES + decoder_pad, WINDOW_FRAMES + 2 * decoder_pad, decoder_pad)


def flow_sizes(flow_pad: int, decoder_pad: int, ahead: bool = False) -> WindowSizes:
    """The flow's first window covers the decoder's first (the flow runs just ahead of it).
    `ahead`: the flow runs on a thread of its own, ahead of the decoder's windows; its second
    window then covers one decoder window, not 512 frames, so the decoder's second window need
    not wait for a long flow run while the other threads have nothing to do (measured: the flow
    ran alone 7 % of the time at 2 threads)."""
    second = WINDOW_FRAMES + 2 * flow_pad if ahead else 0
    return WindowSizes(decoder_sizes(decoder_pad).first + flow_pad, FLOW_WINDOW_FRAMES + 2 * flow_pad, flow_pad,
                       second)


def plan_windows(total: int, first: int, size: int, pad: int, second: int = 0) -> list[Window]:
    """Cover frames [0, total) with windows of `first`, then `second` (if not 0), then `size` frames.

    Each window's output is exact for frames at least `pad` away from an edge it shares with
    a neighbour (at the sentence's own edges the whole-sentence run pads the same way, so the
    output is exact up to the edge). The last window ends at the end of the sentence and is
    as long as what is left (plus its context): aligning a full-size window to the end instead
    recomputed up to a whole window (the decoder fed 1.38 frames per frame of speech on the
    shared sentences that way, 1.24 now). A sentence of fewer than `size` frames is two
    windows, so its first audio comes after the small first window too.
    """
    if not (0 < pad * 2 < size and pad < first <= size and (not second or pad * 2 < second)):
        raise ValueError(f"window sizes first={first} second={second} size={size} do not fit pad={pad}")
    if total <= first:
        return [Window(0, total, 0, total)] if total > 0 else []
    windows = []
    emitted, length = 0, first
    while emitted < total:
        start = max(0, emitted - pad)
        stop = start + length
        stop = min(stop, total)
        keep_stop = total if stop == total else stop - pad
        windows.append(Window(start, stop, emitted, keep_stop))
        emitted, length = keep_stop, second if len(windows) == 1 and second else size
    return windows
