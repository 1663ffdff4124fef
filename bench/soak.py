"""Soak: thousands of utterances of mixed length in one process, memory and pool reuse over time;
then how fast SIGINT and SIGTERM stop the CLI mid-sentence. Writes bench/results/soak.{json,md}.

    python3 bench/soak.py [--utterances 2000] [--warmup 100]

RSS is read after every 50 utterances; "growth" compares the last reading with the one at the
end of the warm-up. The pool must make no new buffers (misses) after the warm-up.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "eval" / "sentences.txt"
SENTENCES = SHARED if SHARED.is_file() else ROOT / "tests" / "data" / "sentences.txt"


def rss_mb() -> float:
    from edgesay.system.sysinfo import rss_mb as read

    value = read()
    if value is None:
        raise RuntimeError("no VmRSS in /proc/self/status")
    return value


def utterances(count: int, seed: int = 0) -> list[str]:
    """One to four shared sentences, or a single word, in a fixed random order."""
    lines = [line.strip() for line in SENTENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if rng.random() < 0.15:
            out.append(rng.choice(["Yes.", "No.", "OK.", "Stop.", "Ready."]))
        else:
            out.append(" ".join(rng.choice(lines) for _ in range(rng.randint(1, 4))))
    return out


def soak(count: int, warmup: int) -> dict:
    from edgesay import Engine

    engine = Engine.load()  # the default level
    curve, audio_s, started = [], 0.0, time.perf_counter()
    misses_at_warmup = None
    for n, text in enumerate(utterances(count), 1):
        audio_s += sum(c.samples.size for c in engine.synthesize(text)) / engine.config.sample_rate
        if n == warmup:
            misses_at_warmup = engine.pool.stats().misses
        if n % 50 == 0 or n == warmup:
            stats = engine.pool.stats()
            curve.append({"utterance": n, "rss_mb": round(rss_mb(), 1), "pool_misses": stats.misses,
                          "pool_hits": stats.hits, "seconds": round(time.perf_counter() - started, 1)})
            print(f"soak: {n}/{count} RSS {curve[-1]['rss_mb']} MB, misses {stats.misses}", file=sys.stderr,
                  flush=True)
    at_warmup = next(p for p in curve if p["utterance"] == warmup)
    return {"utterances": count, "warmup": warmup, "audio_hours": audio_s / 3600, "curve": curve,
            "rss_growth_percent": 100 * (curve[-1]["rss_mb"] / at_warmup["rss_mb"] - 1),
            "rss_max_after_warmup_mb": max(p["rss_mb"] for p in curve if p["utterance"] >= warmup),
            "misses_after_warmup": curve[-1]["pool_misses"] - (misses_at_warmup or 0),
            "hits": curve[-1]["pool_hits"]}


def stop_latency(sig: signal.Signals, runs: int) -> list[float]:
    """Seconds from the signal to the CLI's exit, sent while it speaks a long text to a WAV."""
    text = "This is a long text that keeps the engine busy for a while. " * 200
    times = []
    scratch = tempfile.mkdtemp(prefix="edgesay-soak-")
    for _ in range(runs):
        proc = subprocess.Popen([sys.executable, "-m", "edgesay", "-o", f"{scratch}/long.wav"],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(text.encode() + b"\n")
        proc.stdin.close()
        time.sleep(2.0)  # loaded and speaking
        sent = time.perf_counter()
        proc.send_signal(sig)
        proc.wait()
        times.append(time.perf_counter() - sent)
        if proc.returncode != 130:
            raise RuntimeError(f"{sig.name}: exit status {proc.returncode}: {proc.stderr.read().decode()}")
        if os.listdir(scratch):
            raise RuntimeError(f"{sig.name}: left {os.listdir(scratch)} behind")
    os.rmdir(scratch)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--signal-runs", type=int, default=10)
    args = parser.parse_args()
    report = soak(args.utterances, args.warmup)
    report["stop_s"] = {sig.name: stop_latency(sig, args.signal_runs) for sig in (signal.SIGINT, signal.SIGTERM)}
    report["machine"] = f"{os.uname().machine}, {os.cpu_count()} cores"
    report["date"] = time.strftime("%Y-%m-%d %H:%M")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    stops = {name: f"median {1000 * statistics.median(v):.0f} ms, max {1000 * max(v):.0f} ms"
             for name, v in report["stop_s"].items()}
    rows = "\n".join(f"| {p['utterance']} | {p['rss_mb']} | {p['pool_misses']} | {p['seconds']} |"
                     for p in report["curve"])
    (RESULTS / "soak.md").write_text(f"""# Soak: {args.utterances} utterances in one process (balanced level)

Machine: {report["machine"]}; {report["date"]}; {report["audio_hours"]:.2f} hours of audio.
RSS growth after the {args.warmup}-utterance warm-up: {report["rss_growth_percent"]:+.2f} %
(max {report["rss_max_after_warmup_mb"]} MB); new pool buffers after the warm-up:
{report["misses_after_warmup"]} ({report["hits"]} reuses in all).
Stop, signal to exit while speaking to a WAV: SIGINT {stops["SIGINT"]}, SIGTERM {stops["SIGTERM"]}.

| utterance | RSS MB | pool misses | seconds |
|---|---|---|---|
{rows}
""")
    print((RESULTS / "soak.md").read_text())


if __name__ == "__main__":
    main()
