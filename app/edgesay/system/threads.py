"""How many onnxruntime threads to use when the user does not say.

More threads than idle cores make onnxruntime slower, not faster (its threads wait for each
other at every operation, and one of them waits for a busy core). So: the cores this process may use, less the
other tasks running right now, at least 1 and at most 4 (beyond 4 the convolutions of a
Piper voice gain little on small devices). "Running right now" is the instantaneous count of
runnable tasks from /proc/loadavg, not the 1-minute load average, which still counts the
previous edgesay run of a shell loop and would halve the threads for no reason.
"""

import os

MAX_DEFAULT_THREADS = 4


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def other_running_tasks(loadavg: str = "/proc/loadavg") -> int:
    """Runnable tasks other than this one ("1/78" in /proc/loadavg counts us as the 1)."""
    try:
        with open(loadavg) as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - 1)


def default_threads(samples: int = 3) -> int:
    # The fewest of a few quick readings: a shell starting the next command of a pipeline
    # is runnable for a moment and should not cost us a thread.
    busy = min(other_running_tasks() for _ in range(samples)) if samples else 0
    return max(1, min(MAX_DEFAULT_THREADS, usable_cores() - busy))
