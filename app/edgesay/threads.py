"""How many onnxruntime threads to use when the user does not say.

More threads than idle cores make onnxruntime slower, not faster: on the 2-core
development machine, 2 threads ran 1.45x slower than 1 while another process kept one
core busy (../shared/notes/measurements.md). So: the cores this process may use, less the
ones the load average says are busy, at least 1 and at most 4 (beyond 4 the convolutions
of a Piper voice gain little on small devices).
"""

import os

MAX_DEFAULT_THREADS = 4


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    cores = usable_cores()
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, min(MAX_DEFAULT_THREADS, cores - busy, cores))
