"""Stage markers, for counting what each stage executes under qemu (bench/arm.py).

Off unless EDGESAY_STAGE_MARKERS is set: then every change of stage is one system call (number
4242, which no kernel has) that the counting plugin (bench/arm/insn.c) reads to attribute the
instructions since the last change, and `span` brackets the work it counts (`edgesay bench`'s
timed sentences, so that the binary can be counted too). Meaningful at one thread, where the
stages take turns.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

STAGES = ("other", "text", "latent", "flow", "head", "tail", "compensation", "loudness")
_MARKER, _START, _END, _SWITCH = 4242, 1, 2, 3


def _syscall() -> Callable[..., int] | None:
    if not os.environ.get("EDGESAY_STAGE_MARKERS"):
        return None
    import ctypes

    call: Callable[..., int] = ctypes.CDLL(None, use_errno=True).syscall
    return call


_call = _syscall()
_current = [0]


_UNMARKED = nullcontext()  # reused: with markers off, a stage costs one call and nothing more


def stage(name: str) -> AbstractContextManager[None]:
    """Attribute what runs inside to stage `name`, then back to the stage around it."""
    return _UNMARKED if _call is None else _marked(name)


@contextmanager
def _marked(name: str) -> Iterator[None]:
    assert _call is not None  # only made when markers are on
    before, index = _current[-1], STAGES.index(name)
    _current.append(index)
    _call(_MARKER, _SWITCH, index)
    try:
        yield
    finally:
        _current.pop()
        _call(_MARKER, _SWITCH, before)


def span() -> AbstractContextManager[None]:
    """Count what runs inside (the plugin writes the span's count and its stages at the end)."""
    return _UNMARKED if _call is None else _spanned()


@contextmanager
def _spanned() -> Iterator[None]:
    assert _call is not None  # only made when markers are on
    _call(_MARKER, _START)
    try:
        yield
    finally:
        _call(_MARKER, _END)
