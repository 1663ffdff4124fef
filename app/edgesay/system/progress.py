"""A long job's progress on stderr: its step, percent done and time left.

On a terminal one line is redrawn in place a few times a second (a bar); elsewhere (a log, a
pipe, a service's journal) each step is one plain line. Percent comes from the steps' measured
shares of the whole job (the job declares them), so time left is the time so far scaled by
what is still to do.
"""

import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

_REDRAW_SECONDS = 0.25
_BAR = 24


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class StepProgress:
    """Call with each step's name as it starts; `close()` when the job ends (done or not)."""

    def __init__(self, title: str, steps: Sequence[tuple[str, float]], stream: TextIO | None = None) -> None:
        self.title = title
        total = sum(share for _, share in steps) or 1.0
        self._starts: dict[str, float] = {}
        self._shares: dict[str, float] = {}
        done = 0.0
        for name, share in steps:
            self._starts[name], self._shares[name] = done / total, share / total
            done += share
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self.step = ""
        self.step_started = self.started
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, step: str) -> None:
        with self._lock:
            self.step, self.step_started = step, time.monotonic()
        if not self.live:
            self.stream.write(f"edgesay: {self.title}: {self.line()}\n")
            self.stream.flush()
        elif self._thread is None:
            self._thread = threading.Thread(target=self._redraw, name="progress", daemon=True)
            self._thread.start()

    def fraction(self) -> float:
        """Done so far, 0..1: finished steps, and the current one by its expected length."""
        now = time.monotonic()
        start, share = self._starts.get(self.step, 0.0), self._shares.get(self.step, 0.0)
        if start <= 0:
            return 0.0
        expected = (self.step_started - self.started) / start * share  # this step's length, estimated
        return start + share * min(0.95, (now - self.step_started) / expected if expected > 0 else 0.0)

    def line(self) -> str:
        with self._lock:
            done = self.fraction()
            elapsed = time.monotonic() - self.started
            left = f"about {_clock(elapsed / done - elapsed)} left" if done > 0 else "estimating time left"
            return f"{self.step} ({done * 100:.0f} %, {left})"

    def _redraw(self) -> None:
        # Rich comes with the TUI's Textual; imported here, so a job without a terminal loads none of it.
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        columns = (TextColumn(f"edgesay: {self.title}"), BarColumn(bar_width=_BAR), TextColumn("{task.description}"))
        with Progress(*columns, console=Console(file=self.stream), auto_refresh=False, transient=True) as bar:
            task = bar.add_task(self.line(), total=1.0)
            while not self._closed.wait(_REDRAW_SECONDS if self.step else 0):
                bar.update(task, completed=self.fraction(), description=self.line(), refresh=True)

    def close(self) -> None:
        """Stop redrawing and leave the terminal's line clean."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
            self.stream.write(f"edgesay: {self.title}: done in {_clock(time.monotonic() - self.started)}\n")
            self.stream.flush()
