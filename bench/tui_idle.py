"""CPU the field-testing TUI costs while idle: the real app in a tmux terminal, its process's
CPU time (utime + stime from /proc) over a quiet minute after the voice has loaded.

    python3 bench/tui_idle.py [--seconds 60] [--command "edgesay"]

Target: under 2 % of one core. Results: bench/results/tui_idle.json.
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--command", default=f"{shlex.quote(sys.executable)} -m edgesay")
    args = parser.parse_args()
    session = f"edgesay-idle-{os.getpid()}"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-e", "TERM=xterm-256color",
         f"exec {args.command}")
    try:
        deadline = time.monotonic() + 120
        while "ready:" not in tmux("capture-pane", "-p", "-t", session):
            if time.monotonic() > deadline:
                raise SystemExit("bench/tui_idle.py: the app never became ready")
            time.sleep(0.5)
        pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
        # A onefile binary runs the app in a child of the pane's process: measure the busiest.
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids = [pid, *map(int, children)]
        time.sleep(5)  # let the start settle
        before = {p: cpu_seconds(p) for p in pids}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        used = sum(cpu_seconds(p) - before[p] for p in pids)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    record = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M"),
              "command": args.command,
              "seconds": round(elapsed, 1), "cpu_seconds": round(used, 3),
              "cpu_percent_of_one_core": round(100 * used / elapsed, 2)}
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "tui_idle.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
