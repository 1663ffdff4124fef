"""sha256 of the audio edgesay makes for the shared sentences, at every level and at 1 and 2
threads: run before and after a change that must not change the audio, and compare.

    python3 bench/audio_digest.py --tree OLD_CHECKOUT -o before.json   # the old tree's package
    python3 bench/audio_digest.py --compare before.json                # this one: exit 1 if any differs

Each level and thread count runs in a fresh process (the noise generator starts alike), at the
voice's own noise and at noise 0.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT.parent / "shared" / "eval" / "sentences.txt"
LOCAL = ROOT / "tests" / "data" / "sentences.txt"
LEVELS = ("reference", "balanced", "fast")
THREADS = (1, 2)

ONE = r"""
import dataclasses, hashlib, json, sys
from edgesay import Engine, SynthesisSettings
level, threads, noise, own, texts = json.loads(sys.stdin.read())
engine = Engine.load(threads=threads, quality=level)
settings = SynthesisSettings(noise_scale=0.0, noise_w=0.0) if noise == 0 else SynthesisSettings()
settings = dataclasses.replace(settings, normalize=not own)
out = []
for text in texts:
    digest = hashlib.sha256()
    for chunk in engine.synthesize(text, settings):
        digest.update(chunk.samples.astype("<i2").tobytes())
    out.append(digest.hexdigest())
print(json.dumps(out))
"""


def digests(texts: list[str], tree: Path | None, own: bool) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(tree / "app")} if tree else None
    found = {}
    for level in LEVELS:
        for threads in THREADS:
            for noise in ("voice", 0):
                done = subprocess.run([sys.executable, "-c", ONE], input=json.dumps([level, threads, noise, own, texts]),
                                      capture_output=True, text=True, check=True, env=env)
                found[f"{level} threads={threads} noise={noise}"] = json.loads(done.stdout)
                print(f"{level}, {threads} thread(s), noise {noise}: done", file=sys.stderr)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, help="write the digests here")
    parser.add_argument("--compare", type=Path, help="compare with digests written before")
    parser.add_argument("--tree", type=Path, help="run another checkout's package (default: the installed one)")
    parser.add_argument("--own-level", action="store_true",
                        help="the model's own level (no loudness gain, no limiter): a change of gain alone is no change")
    args = parser.parse_args()
    path = SENTENCES if SENTENCES.is_file() else LOCAL
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    found = digests(texts, args.tree, args.own_level)
    if args.output:
        args.output.write_text(json.dumps(found, indent=1) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        differ = {k: sum(a != b for a, b in zip(v, before.get(k, []), strict=False)) for k, v in found.items()}
        for key, count in differ.items():
            print(f"{key}: {'same' if count == 0 and key in before else f'{count} of {len(texts)} differ'}")
        return 0 if all(c == 0 for c in differ.values()) and set(found) == set(before) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
