"""Stops at random moments of a start: the binary (or any edgesay command) is given a long text to
speak to a WAV and sent SIGINT or SIGTERM after a random delay; every stop must be one line
"edgesay: interrupted", exit 130, no file, within 5 s. Writes bench/results/early_stops.{json,md}.

    python3 bench/early_stops.py [--runs 200] [--max-delay 0.4] [--command build/out/x86_64/edgesay]

The delays cover the onefile loader, its exec, Python's start and the imports; latencies are
from the signal to the exit. A signal in the first instant after exec, while the dynamic loader
and libc start and before the loader's main() installs its handler, gets the kernel's default
action like in any program (killed by the signal, no message, nothing written): such runs are
counted apart, and only they, as "before main()".
"""

import argparse
import json
import os
import platform
import random
import shlex
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TEXT = b"A long text that keeps the engine busy for a good while. " * 100 + b"\n"


BEFORE_MAIN = "killed by the signal before main()"


def stop_once(command: list[str], sig: signal.Signals, delay: float) -> tuple[str, float]:
    """What went wrong ('' for a clean stop, BEFORE_MAIN for the default action of a signal
    that came before any handler could exist) and the seconds from signal to exit."""
    with tempfile.TemporaryDirectory(prefix="edgesay-stops-") as scratch:
        proc = subprocess.Popen([*command, "-o", f"{scratch}/long.wav"], stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(TEXT)  # fits the pipe: never waits for the reader
        proc.stdin.close()
        time.sleep(delay)
        sent = time.perf_counter()
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return "still running 5 s after the signal", 5.0
        took = time.perf_counter() - sent
        err = proc.stderr.read().decode(errors="replace")
        left = os.listdir(scratch)
        if proc.returncode == -sig and not err and not left:
            return BEFORE_MAIN, took
        if proc.returncode != 130 or err != "edgesay: interrupted\n" or left:
            return f"exit {proc.returncode}, stderr {err[-200:]!r}, left {left}", took
        return "", took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--max-delay", type=float, default=0.4)
    parser.add_argument("--command", default=str(ROOT / "build" / "out" / platform.machine() / "edgesay"),
                        help="the edgesay command to stop (default: this machine's binary)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    command = shlex.split(args.command)
    rng = random.Random(args.seed)
    runs = []
    for i in range(args.runs):
        sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
        delay = rng.uniform(0, args.max_delay)
        problem, took = stop_once(command, sig, delay)
        runs.append({"signal": sig.name, "delay_s": round(delay, 4), "stop_s": round(took, 4), "problem": problem})
        if problem:
            print(f"{sig.name} at {delay:.3f} s: {problem}", flush=True)
    early = [r for r in runs if r["problem"] == BEFORE_MAIN]
    bad = [r for r in runs if r["problem"] and r["problem"] != BEFORE_MAIN]
    stops = [r["stop_s"] for r in runs if not r["problem"]]
    report = {"command": args.command, "runs": args.runs, "max_delay_s": args.max_delay, "problems": len(bad), "before_main": len(early),
              "before_main_delays_s": [r["delay_s"] for r in early],
              "stop_median_ms": round(1000 * statistics.median(stops)) if stops else None,
              "stop_max_ms": round(1000 * max(stops)) if stops else None,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M"),
              "detail": runs}
    early_ms = ", ".join(f"{1000 * r['delay_s']:.1f}" for r in early)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "early_stops.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "early_stops.md").write_text(
        f"# Stops at random moments of a start\n\nMachine: {report['machine']}; {report['date']}; "
        f"`{args.command}`.\n{args.runs} runs, SIGINT and SIGTERM alternating, each after a random "
        f"0-{args.max_delay} s: {len(bad)} not clean, {len(early)} {BEFORE_MAIN} (sent "
        f"{early_ms or '-'} ms after start); signal to exit median {report['stop_median_ms']} ms, "
        f"max {report['stop_max_ms']} ms.\n")
    print((RESULTS / "early_stops.md").read_text())
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
