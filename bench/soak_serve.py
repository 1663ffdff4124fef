"""Soak `edgesay serve`: many Wyoming requests from four clients at once, a fifth of them abandoned
at a random point, against one server process. Passes when no well-formed request got an error,
RSS after warm-up grew by less than --rss-growth, and the server's threads and file descriptors
are as many after as before. Exit 1 otherwise. Writes bench/results/soak_serve.md (not with --quiet).

    python3 bench/soak_serve.py [--requests 1000] [--clients 4] [--binary build/out/<machine>/edgesay]

`just soak-serve` runs it whole; the test run (tests/test_serve.py) runs a short version.
"""

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wyoming.audio import AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.tts import Synthesize

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "The kitchen light is on.",
    "It is twenty degrees outside, and the wind is calm.",
    "Your timer for the pasta has finished. Please check the pot.",
    "The front door was locked at nine o'clock.",
    " ".join(["The garden sprinklers will run for ten minutes at six in the morning."] * 8),
]


def proc(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
    return {"rss_kb": rss, "threads": len(os.listdir(f"/proc/{pid}/task")), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


async def soak(port: int, requests: int, clients: int, rng: random.Random) -> tuple[list[str], int]:
    """The errors well-formed requests got back, and how many requests were abandoned."""
    plan = [(rng.choice(TEXTS), rng.random() < 0.2, rng.randint(1, 6)) for _ in range(requests)]
    errors: list[str] = []
    queue: asyncio.Queue[tuple[str, bool, int]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)

    async def one(text: str, leave: bool, after: int) -> None:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text=text).event())
            read = 0
            while not (leave and read >= after):
                event = await asyncio.wait_for(client.read_event(), 120)
                read += 1
                if event is None or Error.is_type(event.type):
                    errors.append(f"{text[:30]!r}: {event}")
                    return
                if AudioStop.is_type(event.type):
                    return

    async def client() -> None:
        while not queue.empty():
            await one(*queue.get_nowait())

    await asyncio.gather(*(client() for _ in range(clients)))
    return errors, sum(1 for _, leave, _ in plan if leave)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rss-growth", type=float, default=0.05, help="largest RSS growth allowed (0.05: 5 %%)")
    parser.add_argument("--binary", help="serve with this binary (default: the Python package)")
    parser.add_argument("--quiet", action="store_true", help="no results file (the test run)")
    args = parser.parse_args()
    command = [args.binary] if args.binary else [sys.executable, "-m", "edgesay"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen([*command, "serve", "--uri", f"tcp://127.0.0.1:{port}", "--workers", "2"],
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
            rng = random.Random(20261201)
            warm_errors, _ = asyncio.run(soak(port, args.warmup, args.clients, rng))
            time.sleep(1)  # the last abandoned syntheses finish stopping
            before = proc(server.pid)
            started = time.monotonic()
            errors, abandoned = asyncio.run(soak(port, args.requests, args.clients, rng))
            seconds = time.monotonic() - started
            time.sleep(1)
            after = proc(server.pid)
            alive = server.poll() is None
        finally:
            server.terminate()
            code = server.wait(timeout=30)
    errors = warm_errors + errors
    growth = after["rss_kb"] / before["rss_kb"] - 1
    ok = (alive and code == 0 and not errors and growth < args.rss_growth
          and after["threads"] == before["threads"] and after["fds"] == before["fds"])
    report = (f"# edgesay serve soak\n\n{args.requests} requests ({abandoned} abandoned midway) from {args.clients} "
              f"clients in {seconds:.0f} s, after {args.warmup} to warm up; {os.uname().machine}, "
              f"{len(os.sched_getaffinity(0))} cores, {'binary' if args.binary else 'Python package'}.\n\n"
              f"| | after warm-up | at the end |\n|---|---|---|\n"
              f"| RSS | {before['rss_kb'] / 1024:.1f} MB | {after['rss_kb'] / 1024:.1f} MB ({growth:+.1%}) |\n"
              f"| threads | {before['threads']} | {after['threads']} |\n"
              f"| file descriptors | {before['fds']} | {after['fds']} |\n\n"
              f"Errors on well-formed requests: {len(errors)}. Exit on SIGTERM: {code}. "
              f"{'PASS' if ok else 'FAIL'}\n")
    print(report + "".join(f"  {e}\n" for e in errors[:10]))
    if not args.quiet:
        (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
        (ROOT / "bench" / "results" / "soak_serve.md").write_text(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
