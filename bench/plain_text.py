"""Plain text before and after a change of the text path: this tree's engine against another
commit's (default: d2a4b2d, before phoneme blocks, lexicons and SSML), first audio and real-time
factor on the shared sentences, interleaved in one run, medians and ratios.

    python3 bench/plain_text.py [--baseline REF] [--repetitions 5]

Each side runs in its own process from its own source tree (a git worktree for the baseline),
on the same prepared voice (balanced, 2 threads, warm). Writes bench/results/plain_text.md and .json.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT.parent / "shared" / "eval" / "sentences.txt"
LOCAL = ROOT / "tests" / "data" / "sentences.txt"

# Run inside each tree: one line of JSON per sentence, {first, total, audio} in seconds.
PROBE = """
import json, sys, time
from edgesay import Engine, SynthesisSettings
engine = Engine.load(threads=2, quality="balanced")
settings = SynthesisSettings(noise_scale=0.0, noise_w=0.0)
for text in json.load(sys.stdin):
    list(engine.synthesize(text, settings))  # warm for this sentence's shapes
    started = time.perf_counter()
    first, samples = None, 0
    for chunk in engine.synthesize(text, settings):
        first = time.perf_counter() - started if first is None else first
        samples += chunk.samples.size
    print(json.dumps({"first": first, "total": time.perf_counter() - started, "audio": samples / 22050}))
"""


def run(tree: Path, texts: list[str]) -> list[dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(tree / "app")}
    out = subprocess.run([sys.executable, "-c", PROBE], input=json.dumps(texts), capture_output=True, text=True,
                         env=env, check=True, timeout=1800, cwd=tree)
    return [json.loads(line) for line in out.stdout.splitlines()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="d2a4b2d", help="the commit to compare with (default d2a4b2d)")
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    texts = [t.strip() for t in (SENTENCES if SENTENCES.is_file() else LOCAL).read_text().splitlines() if t.strip()]
    with tempfile.TemporaryDirectory() as scratch:
        old = Path(scratch) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.baseline],
                       check=True, capture_output=True)
        try:
            runs: dict[str, list[list[dict[str, float]]]] = {"baseline": [], "this tree": []}
            for _ in range(args.repetitions):  # interleaved: the machine's noise falls on both
                runs["baseline"].append(run(old, texts))
                runs["this tree"].append(run(ROOT, texts))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    rows = []
    medians: dict[str, dict[str, float]] = {}
    for side, reps in runs.items():
        first = [statistics.median(r[i]["first"] for r in reps) for i in range(len(texts))]
        rtf = [statistics.median(r[i]["total"] / r[i]["audio"] for r in reps) for i in range(len(texts))]
        medians[side] = {"first": statistics.median(first), "rtf": statistics.median(rtf),
                         "audio": sum(r["audio"] for r in reps[0])}
    for metric, label in (("first", "first audio, median sentence (s)"), ("rtf", "RTF, median sentence")):
        b, t = medians["baseline"][metric], medians["this tree"][metric]
        rows.append(f"| {label} | {b:.3f} | {t:.3f} | {t / b:.2f} |")
    same_audio = abs(medians["baseline"]["audio"] - medians["this tree"]["audio"]) < 1e-6
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
    report = (f"# Plain text: this tree against {args.baseline}\n\n{machine}; balanced, 2 threads, warm; "
              f"{len(texts)} shared sentences, medians of {args.repetitions} interleaved repetitions.\n\n"
              f"| metric | {args.baseline} | this tree | this tree / {args.baseline} |\n|---|---|---|---|\n"
              + "\n".join(rows) + f"\n\nSame length of audio on both sides: {'yes' if same_audio else 'NO'}.\n")
    print(report)
    results = ROOT / "bench" / "results"
    (results / "plain_text.md").write_text(report)
    (results / "plain_text.json").write_text(json.dumps({"machine": machine, "baseline": args.baseline,
                                                         "medians": medians}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
