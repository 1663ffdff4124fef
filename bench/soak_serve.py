"""Soak `edgesay serve` on a hostile network: good Wyoming clients beside hostile ones that send
malformed events and HTTP bodies, abandon requests, read nothing, or never finish their headers,
against one server process for --minutes.

First the good clients run alone (their first-audio times are the baseline), then all clients
together: a warm-up, a quiet moment (what the server holds then is "after warm-up"), the main run
and another quiet moment ("at the end"). Passes when the server never died, no well-formed request
got an error, RSS grew by less than --rss-growth, threads and file descriptors are as many at the
end as after warm-up, and the good clients' p95 first audio beside the hostile ones is at most
--p95-ratio times their p95 alone. Exit 1 otherwise. Writes bench/results/soak_serve.md and .json
(not with --quiet).

    python3 bench/soak_serve.py [--minutes 30] [--binary build/out/<machine>/edgesay]

`just soak-serve` runs it whole; the test run (tests/test_serve.py) runs a short version without
the latency criterion (timings are for benchmarks, not tests).
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.tts import Synthesize

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "The kitchen light is on.",
    "It is twenty degrees outside, and the wind is calm.",
    "Your timer for the pasta has finished. Please check the pot.",
    "The front door was locked at nine o'clock.",
]
LONG = " ".join(["The garden sprinklers will run for ten minutes at six in the morning."] * 30)
BAD_EVENTS = [b"not json\n", b'{"data": {}}\n', b'{"type": "synthesize", "data_length": 999999999}\n',
              b"[" * 5000 + b"\n", b'{"type": "synthesize", "data": {"text": 5}}\n',
              b'{"type": "synthesize-chunk", "data": {"text": "Hi."}}\n',
              b'{"type": "synthesize", "data": {"text": "Hi.", "voice": {"name": "nobody"}}}\n']
BAD_BODIES = [b"not json", b"[" * 100_000, b'{"text": "Hi.", "sentence_silence": 3000}',
              b'{"text": "Hi.", "speaker_id": "\xc2\xb2"}', b'{"text": "Hi.", "length_scale": NaN}', b'{"text": 5}']


@dataclass
class Tally:
    first_audio: list[float] = field(default_factory=list)  # the good clients', seconds
    errors: list[str] = field(default_factory=list)  # what well-formed requests got wrong
    hostile: dict[str, int] = field(default_factory=dict)  # hostile requests made, by kind


def proc(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
    return {"rss_kb": rss, "threads": len(os.listdir(f"/proc/{pid}/task")), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


async def good(port: int, rng: random.Random, tally: Tally) -> None:
    text = rng.choice(TEXTS)
    started = time.monotonic()
    try:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text=text).event())
            first = None
            while True:
                event = await asyncio.wait_for(client.read_event(), 120)
                if event is None or Error.is_type(event.type):
                    tally.errors.append(f"{text[:30]!r}: {event}")
                    return
                if first is None and AudioChunk.is_type(event.type):
                    first = time.monotonic() - started
                if AudioStop.is_type(event.type):
                    if first is not None:
                        tally.first_audio.append(first)
                    return
    except (OSError, asyncio.TimeoutError) as exc:
        tally.errors.append(f"{text[:30]!r}: {type(exc).__name__} {exc}")


async def _send(port: int, data: bytes, read_for: float) -> None:
    """Send bytes, read whatever comes back for up to `read_for` seconds (or until closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        deadline = time.monotonic() + read_for
        while time.monotonic() < deadline:
            if not await asyncio.wait_for(reader.read(65536), deadline - time.monotonic()):
                return
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()


async def hostile(ports: tuple[int, int], rng: random.Random, tally: Tally, hold: float) -> None:
    wyoming, http = ports
    kind = rng.choice(["malformed-event", "malformed-body", "abandoned", "non-reading", "slow-headers"])
    tally.hostile[kind] = tally.hostile.get(kind, 0) + 1
    synthesize = json.dumps({"type": "synthesize", "data": {"text": LONG}}).encode() + b"\n"
    if kind == "malformed-event":
        await _send(wyoming, rng.choice(BAD_EVENTS), 5)
    elif kind == "malformed-body":
        body = rng.choice(BAD_BODIES)
        head = f"POST /synthesize HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        await _send(http, head.encode() + body, 10)
    elif kind == "abandoned":
        await _send(wyoming, synthesize, rng.uniform(0, 1.5))
    elif kind == "non-reading":  # holds the connection open, reads nothing, until the server drops it
        _, writer = await asyncio.open_connection("127.0.0.1", wyoming)
        writer.write(synthesize)
        await writer.drain()
        writer.transport.pause_reading()
        await asyncio.sleep(rng.uniform(3, hold))
        writer.close()
    else:
        await _send(http, b"POST /synthesize HTTP/1.1\r\nHost: x\r\n", 30)


async def run_clients(clients: list[Callable[[], Awaitable[None]]], seconds: float) -> None:
    """Each client makes requests one after another until `seconds` have passed."""
    deadline = time.monotonic() + seconds

    async def loop(make: Callable[[], Awaitable[None]]) -> None:
        while time.monotonic() < deadline:
            await make()

    await asyncio.gather(*(loop(make) for make in clients))


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values, default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30, help="the main run, all clients (default 30)")
    parser.add_argument("--baseline-minutes", type=float, default=3, help="the good clients alone (default 3)")
    parser.add_argument("--warmup-minutes", type=float, default=2, help="all clients, before 'after warm-up'")
    parser.add_argument("--good", type=int, default=4, help="good clients (default 4)")
    parser.add_argument("--hostile", type=int, default=4, help="hostile clients (default 4)")
    parser.add_argument("--rss-growth", type=float, default=0.05, help="largest RSS growth allowed (0.05: 5 %%)")
    parser.add_argument("--p95-ratio", type=float, default=1.5,
                        help="largest p95 first audio beside hostile clients over alone (0: not checked)")
    parser.add_argument("--client-timeout", type=float, help="passed to the server (default: its own)")
    parser.add_argument("--binary", help="serve with this binary (default: the Python package)")
    parser.add_argument("--quiet", action="store_true", help="no results file (the test run)")
    parser.add_argument("--log", type=Path, help="keep the server's log in this file")
    args = parser.parse_args()
    command = [args.binary] if args.binary else [sys.executable, "-m", "edgesay"]
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    wyoming, http = ports
    extra = ["--client-timeout", str(args.client_timeout)] if args.client_timeout else []
    settle = (args.client_timeout or 30) + 8  # every non-reading client dropped, its thread ended
    hold = (args.client_timeout or 30) + 10  # a non-reading client outlasts the timeout, sometimes
    rng = random.Random(20261206)
    alone, mixed = Tally(), Tally()
    with (args.log.open("w+b") if args.log else tempfile.TemporaryFile()) as log:
        server = subprocess.Popen([*command, "serve", "--uri", f"tcp://127.0.0.1:{wyoming}", "--http",
                                   f"127.0.0.1:{http}", "--workers", "2", *extra],
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 600
            while True:
                log.seek(0)
                if b"ready:" in log.read():
                    break
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    print(f"server did not start: {log.read().decode(errors='replace')}", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            asyncio.run(run_clients([lambda: good(wyoming, rng, alone)] * args.good, args.baseline_minutes * 60))
            warm = Tally()
            everyone = ([lambda: good(wyoming, rng, warm)] * args.good +
                        [lambda: hostile((wyoming, http), rng, warm, hold)] * args.hostile)
            asyncio.run(run_clients(everyone, args.warmup_minutes * 60))
            time.sleep(settle)
            before = proc(server.pid)
            started = time.monotonic()
            everyone = ([lambda: good(wyoming, rng, mixed)] * args.good +
                        [lambda: hostile((wyoming, http), rng, mixed, hold)] * args.hostile)
            asyncio.run(run_clients(everyone, args.minutes * 60))
            seconds = time.monotonic() - started
            time.sleep(settle)
            after = proc(server.pid)
            alive = server.poll() is None
        finally:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=30)
            if server.poll() is None:
                server.kill()
            code = server.wait()
            log.seek(0)
            tracebacks = log.read().count(b"Traceback")
    errors = alone.errors + warm.errors + mixed.errors
    growth = after["rss_kb"] / before["rss_kb"] - 1
    p95_alone, p95_mixed = p95(alone.first_audio), p95(mixed.first_audio)
    ratio = p95_mixed / p95_alone if p95_alone else float("inf")
    checks = {"alive": alive, "exit 0 on SIGTERM": code == 0, "no errors on good requests": not errors,
              "no tracebacks": tracebacks == 0, "RSS": growth < args.rss_growth,
              "threads flat": after["threads"] == before["threads"], "descriptors flat": after["fds"] == before["fds"]}
    if args.p95_ratio:
        checks["p95 first audio"] = ratio <= args.p95_ratio
    ok = all(checks.values())
    machine = f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, " \
              f"{'binary' if args.binary else 'Python package'}, {time.strftime('%Y-%m-%d %H:%M')}"
    hostile_made = ", ".join(f"{k} {v}" for k, v in sorted(mixed.hostile.items()))
    report = (f"# edgesay serve soak on a hostile network\n\n{machine}. {args.good} good Wyoming clients and "
              f"{args.hostile} hostile ones for {seconds / 60:.1f} min (hostile requests: {hostile_made}), after "
              f"{args.baseline_minutes:g} min of the good clients alone and {args.warmup_minutes:g} min of warm-up.\n\n"
              f"| | after warm-up | at the end |\n|---|---|---|\n"
              f"| RSS | {before['rss_kb'] / 1024:.1f} MB | {after['rss_kb'] / 1024:.1f} MB ({growth:+.1%}) |\n"
              f"| threads | {before['threads']} | {after['threads']} |\n"
              f"| file descriptors | {before['fds']} | {after['fds']} |\n\n"
              f"| good clients' first audio | alone | beside hostile clients |\n|---|---|---|\n"
              f"| requests | {len(alone.first_audio)} | {len(mixed.first_audio)} |\n"
              f"| median | {statistics.median(alone.first_audio or [0]):.3f} s | "
              f"{statistics.median(mixed.first_audio or [0]):.3f} s |\n"
              f"| p95 | {p95_alone:.3f} s | {p95_mixed:.3f} s ({ratio:.2f}x) |\n\n"
              f"Errors on well-formed requests: {len(errors)}. Tracebacks logged: {tracebacks}. "
              f"Exit on SIGTERM: {code}. {'PASS' if ok else 'FAIL: ' + ', '.join(k for k, v in checks.items() if not v)}\n")
    print(report + "".join(f"  {e}\n" for e in errors[:10]))
    if not args.quiet:
        results = ROOT / "bench" / "results"
        results.mkdir(parents=True, exist_ok=True)
        (results / "soak_serve.md").write_text(report)
        (results / "soak_serve.json").write_text(json.dumps({
            "machine": machine, "minutes": seconds / 60, "before": before, "after": after, "rss_growth": growth,
            "p95_alone": p95_alone, "p95_mixed": p95_mixed, "ratio": ratio, "errors": len(errors),
            "hostile": mixed.hostile, "checks": checks, "pass": ok}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
