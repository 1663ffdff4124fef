"""The C library's allocator, for a process that runs for weeks (`edgesay serve`).

glibc gives each thread that allocates under contention an arena of its own, up to eight per
core, and a freed block stays in its arena for that arena's next request: with a dozen server
and onnxruntime threads taking turns, memory freed in one arena is not reused by another and
the process's size creeps up as the traffic varies. Fewer arenas and handing free pages back
when the server goes idle keep it near what it actually holds. Elsewhere (musl, other
platforms) these are no-ops.
"""

import ctypes
import threading
import time
from typing import Any

M_ARENA_MAX = -8  # malloc.h


def _libc() -> Any:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def limit_arenas(arenas: int) -> bool:
    """At most `arenas` malloc arenas from now on (threads already running keep theirs): call it
    before starting threads. False where the allocator has no such setting."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_ARENA_MAX, arenas))


class Trimmer:
    """Hands free memory back to the kernel (malloc_trim), at most once per `interval` seconds:
    it walks every arena, a few milliseconds, so it runs on a thread of its own."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._trim: Any = getattr(_libc(), "malloc_trim", None)
        if self._trim is not None:
            self._trim.argtypes = [ctypes.c_size_t]
        self._last = float("-inf")
        self._running = threading.Lock()

    def __call__(self) -> bool:
        """Trim now unless it ran less than `interval` ago or is running; True if started."""
        now = time.monotonic()
        if self._trim is None or now - self._last < self.interval or not self._running.acquire(blocking=False):
            return False
        self._last = now
        threading.Thread(target=self._run, name="edgesay-trim", daemon=True).start()
        return True

    def _run(self) -> None:
        try:
            self._trim(0)
        finally:
            self._running.release()
