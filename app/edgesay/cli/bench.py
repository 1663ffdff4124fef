"""`edgesay bench`: what a field tester runs on a device to get comparable numbers in under a minute.

One process: the device (CPU model and features, cores, temperature and clock before and
after), start-up (a fresh `edgesay --text "Hello." -o x.wav` process, twice: the first may
unpack the binary or optimize the graphs), engine load time, then warm syntheses of a fixed
sentence set: time to first audio and real-time factor per sentence, and the process's peak
RSS. The same code runs in the Python package and in the binary, so `just bench` uses it to
time both against Piper.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from .. import __version__
from ..errors import InputError
from ..loading.factory import Engine
from ..loading.lookup import resolve
from ..runtime import markers
from ..system import paths, sysinfo
from ..system.threads import default_threads
from ..voice.config import SynthesisSettings
from . import onefile, stops
from .arguments import Parser, add_voice_arguments, positive

# Shipped with the binary: a short, a medium, a long and a ten-second sentence, with numbers,
# punctuation and a question, so that every device runs the same text.
SENTENCES = (
    "Good morning.",
    "The quick brown fox jumps over the lazy dog.",
    "Is the kitchen light still on, or did somebody finally remember to switch it off?",
    "On the 3rd of May 2024, the station recorded 17.5 millimetres of rain in under an hour.",
    "When the power came back on, the old radio in the kitchen started playing again, a little out of tune, "
    "as if nothing at all had happened during the three days of darkness that the whole valley had lived through.",
)
# CPU features that decide INT8 speed: dot-product and matrix instructions (ARM), VNNI (x86).
INT8_FEATURES = ("asimddp", "i8mm", "sve", "sve2", "bf16", "avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class Device:
    machine: str
    cpu_model: str
    cores: int
    int8_features: list[str]  # those of INT8_FEATURES the CPU reports
    features: str  # the whole "flags"/"Features" line of /proc/cpuinfo
    board: str | None  # /proc/device-tree/model (Raspberry Pi, Jetson), None elsewhere


@dataclass(frozen=True)
class Thermal:
    temperature_c: float | None
    frequency_mhz: list[float] | None  # per core


@dataclass(frozen=True)
class SentenceResult:
    text: str
    audio_s: float
    first_audio_s: list[float]  # one per repetition
    total_s: list[float]

    @property
    def rtf(self) -> float:
        """Median compute time per second of audio (below 1: faster than real time)."""
        return statistics.median(self.total_s) / self.audio_s


@dataclass
class BenchResult:
    edgesay_version: str
    voice: str
    voice_sha256: str  # over the graphs and compensation of the level used ("" for Piper's own graph)
    quality: str
    threads: int
    device: Device
    before: Thermal
    after: Thermal | None = None
    startup_s: list[float] = field(default_factory=list)  # process start to a finished Hello WAV
    load_s: float = 0.0  # Engine.load in this process
    sentences: list[SentenceResult] = field(default_factory=list)
    peak_rss_mb: float | None = None
    seconds: float = 0.0  # how long the whole bench took

    def summary(self) -> dict[str, float]:
        audio = sum(s.audio_s for s in self.sentences)
        compute = sum(statistics.median(s.total_s) for s in self.sentences)
        return {
            "rtf": compute / audio if audio else float("nan"),
            "first_audio_median_s": statistics.median(statistics.median(s.first_audio_s) for s in self.sentences),
            "first_audio_longest_sentence_s": statistics.median(max(self.sentences,
                                                                    key=lambda s: s.audio_s).first_audio_s),
            "startup_s": min(self.startup_s) if self.startup_s else float("nan"),
            "audio_s": audio,
        }

    def to_dict(self) -> dict:
        record = asdict(self)
        for sentence, raw in zip(self.sentences, record["sentences"], strict=True):
            raw["rtf"] = sentence.rtf
        record["summary"] = self.summary()
        return record


def device(cpuinfo: Path = Path("/proc/cpuinfo"), tree: Path = Path("/proc/device-tree/model")) -> Device:
    fields = sysinfo.cpu_fields(cpuinfo)
    features = fields.get("flags") or fields.get("Features") or ""
    model = fields.get("model name") or fields.get("Model") or fields.get("Hardware")
    if not model and fields.get("CPU part"):  # ARM cores name themselves by implementer and part
        model = f"ARM implementer {fields.get('CPU implementer')} part {fields['CPU part']}"
    try:
        board: str | None = tree.read_text(errors="replace").strip("\x00\n ") or None
    except OSError:
        board = None
    model = model or platform.processor()
    words = set(features.split())
    return Device(platform.machine(), model or "unknown", os.cpu_count() or 1,
                  [f for f in INT8_FEATURES if f in words], features, board)


def thermal() -> Thermal:
    frequencies = sysinfo.frequencies_mhz()
    return Thermal(sysinfo.temperature_c(), list(frequencies) if frequencies else None)


def self_command() -> list[str]:
    """How to start this edgesay again: the binary (its loader execs the unpacked program with
    the binary's own path as argv[0]), or this Python with the package."""
    if onefile.in_binary():
        return [os.path.abspath(sys.argv[0])]
    return [sys.executable, "-m", "edgesay"]


def startup_times(command: list[str], runs: int = 2) -> list[float]:
    """Wall time of fresh `--text "Hello." -o x.wav` processes."""
    times = []
    with tempfile.TemporaryDirectory(prefix="edgesay-bench-") as scratch:
        out = str(Path(scratch) / "hello.wav")
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([*command, "--text", "Hello.", "-o", out], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    return times


def time_sentence(engine: Engine, text: str, reps: int) -> SentenceResult:
    firsts, totals, samples, rate = [], [], 0, 1
    for _ in range(reps):
        started = time.perf_counter()
        first = None
        samples = 0
        for chunk in engine.synthesize(text, SynthesisSettings()):
            first = first if first is not None else time.perf_counter() - started
            samples += chunk.samples.size
            rate = chunk.sample_rate
        totals.append(time.perf_counter() - started)
        firsts.append(first if first is not None else totals[-1])
    return SentenceResult(text, samples / rate, firsts, totals)


def run(load: Callable[[], tuple[Engine, str, str, str]], sentences: list[str], reps: int, threads: int,
        startup: bool = True, progress: Callable[[str], None] = lambda _: None) -> BenchResult:
    """`load` returns (engine, voice name, voice hash, quality); timing starts after a warm-up."""
    began = time.perf_counter()
    before = thermal()
    startup_s = []
    if startup:
        progress("start-up: two fresh processes")
        startup_s = startup_times(self_command())
    progress("loading the voice")
    started = time.perf_counter()
    engine, voice, digest, quality = load()
    load_s = time.perf_counter() - started
    time_sentence(engine, sentences[0], 1)  # warm-up
    result = BenchResult(__version__, voice, digest, quality, threads, device(), before,
                         startup_s=startup_s, load_s=load_s)
    with markers.span():  # what bench/arm.py counts of the binary under qemu (off unless asked for)
        for n, text in enumerate(sentences, 1):
            progress(f"sentence {n}/{len(sentences)}")
            result.sentences.append(time_sentence(engine, text, reps))
    result.peak_rss_mb = sysinfo.peak_rss_mb()
    result.after = thermal()
    result.seconds = time.perf_counter() - began
    return result


def _thermal_text(t: Thermal | None) -> str:
    if t is None:
        return "-"
    temp = f"{t.temperature_c:.1f} °C" if t.temperature_c is not None else "temperature unavailable"
    freq = (f"{min(t.frequency_mhz):.0f}-{max(t.frequency_mhz):.0f} MHz" if t.frequency_mhz
            else "clock unavailable")
    return f"{temp}, {freq}"


def table(result: BenchResult) -> str:
    """The human-readable report."""
    d, s = result.device, result.summary()
    lines = [
        f"edgesay {result.edgesay_version} bench: {result.voice} ({result.quality}, "
        f"sha256 {result.voice_sha256 or 'unknown'}), {result.threads} thread(s)",
        f"device: {d.board + ', ' if d.board else ''}{d.cpu_model}, {d.machine}, {d.cores} cores; "
        f"INT8 features: {', '.join(d.int8_features) or 'none'}",
        f"before: {_thermal_text(result.before)}   after: {_thermal_text(result.after)}",
        "",
        f"{'sentence':<48} {'audio':>7} {'first audio':>12} {'RTF':>6}",
    ]
    for sentence in result.sentences:
        text = sentence.text if len(sentence.text) <= 45 else sentence.text[:44] + "…"
        lines.append(f"{text:<48} {sentence.audio_s:>6.2f}s {statistics.median(sentence.first_audio_s):>11.3f}s "
                     f"{sentence.rtf:>6.3f}")
    startup = f"{s['startup_s']:.2f} s" if result.startup_s else "not measured"
    lines += [
        "",
        f"real-time factor (all sentences): {s['rtf']:.3f}  ({1 / s['rtf']:.1f}x faster than real time)",
        f"time to first audio: median {s['first_audio_median_s']:.3f} s, "
        f"longest sentence {s['first_audio_longest_sentence_s']:.3f} s",
        f"start-up to a finished Hello WAV: {startup}; voice load in process: {result.load_s:.2f} s",
        f"peak RSS: {result.peak_rss_mb:.0f} MB" if result.peak_rss_mb is not None else "peak RSS: unavailable",
        f"({result.seconds:.0f} s in all)",
    ]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="edgesay bench", description="Measure edgesay on this device: speed, time to first audio, "
               "memory, start-up, with the CPU and its temperature, in under a minute.")
    add_voice_arguments(p, "voice to measure (default: the built-in voice)")
    p.add_argument("--reps", type=positive(int), default=3, help="timed runs per sentence (default 3)")
    p.add_argument("--sentences", help="UTF-8 text file, one sentence per line, instead of the built-in set")
    p.add_argument("--no-startup", action="store_true", help="skip the two fresh-process start-up runs")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the table")
    return p


def read_sentences(path: str | None) -> list[str]:
    if not path:
        return list(SENTENCES)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read sentences from {path}: {exc}") from exc
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences:
        raise InputError(f"{path} has no sentences")
    return sentences


def command(argv: list[str], out: TextIO) -> int:
    """`edgesay bench ARGS`."""
    stops.stop_cleanly()
    args = parser().parse_args(argv)
    sentences = read_sentences(args.sentences)
    threads = args.threads or default_threads()
    voice = resolve(args.voice, args.config)  # a missing voice is one error line, before any progress

    def load() -> tuple[Engine, str, str, str]:
        engine = Engine.load(voice, threads=threads, quality=args.quality, prepare=True)
        name = Path(args.voice).name if args.voice else f"built-in voice {paths.DEFAULT_VOICE}"
        return engine, name, engine.digest, engine.quality

    def progress(step: str) -> None:
        print(f"edgesay bench: {step}", file=sys.stderr, flush=True)

    result = run(load, sentences, args.reps, threads, startup=not args.no_startup,
                 progress=progress if not args.json else lambda _: None)
    out.write(json.dumps(result.to_dict(), indent=1) + "\n" if args.json else table(result))
    return 0
