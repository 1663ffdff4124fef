"""Stage markers, for counting what each stage executes under qemu (bench/arm.py).

Off unless EDGESAY_STAGE_MARKERS is set: then every change of stage is one system call (number
4242, which no kernel has) that the counting plugin (bench/arm/insn.c) reads to attribute the
instructions since the last change. Meaningful at one thread, where the stages take turns.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STAGES = ("other", "text", "latent", "flow", "head", "tail", "compensation", "loudness")
_MARKER, _SWITCH = 4242, 3


def _syscall() -> Callable[..., int] | None:
    if not os.environ.get("EDGESAY_STAGE_MARKERS"):
        return None
    import ctypes

    call: Callable[..., int] = ctypes.CDLL(None, use_errno=True).syscall
    return call


_call = _syscall()
_current = [0]


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Attribute what runs inside to stage `name`, then back to the stage around it."""
    if _call is None:
        yield
        return
    before, index = _current[-1], STAGES.index(name)
    _current.append(index)
    _call(_MARKER, _SWITCH, index)
    try:
        yield
    finally:
        _current.pop()
        _call(_MARKER, _SWITCH, before)
