"""The quality levels: the one table the engine, preparation, `models/`, the CLI, the TUI and the
binary's build read. Adding a level is adding a row here (and, if it needs a graph made another
way, a recipe for that decoder in prepare/pipeline.py).

A level names the precision of each graph. The latent graph (text encoder, durations) is FP32 but
for the level made for FP16 arithmetic: its convolutions in FP16 move a few durations by a frame,
which INT8 would move further (docs/design/2026-11-24-int8-decoder.md, 2026-12-07-arm-limits.md).
"""

from collections.abc import Collection
from dataclasses import dataclass

from ..errors import VoiceError
from ..system import cpu

FP32 = "fp32"
INT8 = "int8"
MIXED = "mixed"  # INT8 but for the decoder's last (audio-rate) stage
MIXED16 = "mixed16"  # MIXED with the audio-rate stage's convolutions in FP16 (a decoder tail only)
FP16 = "fp16"  # FP32 with the convolutions in FP16 (the latent graph only)


@dataclass(frozen=True)
class QualityLevel:
    name: str
    flow: str  # FP32 or INT8
    decoder: str  # FP32, INT8 or MIXED
    compensated: bool  # a Mel gain compensation is fitted for its decoder and applied
    in_binary: bool  # the binary's embedded voice carries it (FP32 graphs would add 34 MB)
    summary: str  # for --help and the TUI
    tail: str | None = None  # the decoder tail's precision, if not the decoder's
    latent: str = FP32  # the latent graph's precision: FP32 or FP16
    # The CPU feature (system/cpu.py) on which this level is the default: it pays only there.
    default_on: str | None = None

    @property
    def quantized(self) -> bool:
        """Needs preparation (quantization, calibration); FP32 runs the Piper graph as it is."""
        return (self.flow, self.decoder) != (FP32, FP32)

    @property
    def parts(self) -> tuple[str, str, str, str | None, str]:
        """Names of its parts in a bundle, in the order of voice.bundle.LevelParts' fields: latent
        and flow graphs, the decoder's head, the compensation, the decoder's tail."""
        return (graph_part("latent", self.latent), graph_part("flow", self.flow),
                graph_part(DECODER_HEAD, self.decoder),
                compensation_part_name(self.name) if self.compensated else None,
                graph_part(DECODER_TAIL, self.tail or self.decoder))

DECODER_HEAD, DECODER_TAIL = "decoder_head", "decoder_tail"  # a decoder's two graphs (voice/graphs.py)


def graph_part(graph: str, precision: str) -> str:
    return f"{graph}.{precision}.onnx"


def compensation_part_name(level: str) -> str:
    return f"compensation.{level}.json"


LEVELS = (
    QualityLevel("fast", INT8, INT8, compensated=True, in_binary=True,
                 summary="all-INT8 decoder, compensated; audibly a little hissier"),
    QualityLevel("balanced", INT8, MIXED, compensated=True, in_binary=True,
                 summary="INT8 but the decoder's audio-rate stage, compensated"),
    # balanced's flow, head and compensation, the tail's and the latent graph's float convolutions
    # in FP16: on a CPU with FP16 arithmetic (Pi 5, Orin) that tail executes 0.85x balanced's
    # instructions and that latent graph 0.68x FP32's; elsewhere onnxruntime runs the convolutions
    # in FP32 and the casts only add work (bench/results/arm.md).
    QualityLevel("balanced-fp16", INT8, MIXED, compensated=True, in_binary=True, tail=MIXED16, latent=FP16,
                 summary="balanced, its float convolutions in FP16 (default on CPUs with FP16 arithmetic)",
                 default_on="asimdhp"),
    QualityLevel("reference", FP32, FP32, compensated=False, in_binary=False,
                 summary="FP32, as Piper runs it"),
)
DEFAULT = "balanced"  # the level a prepared voice speaks at unless told otherwise
NAMES = tuple(level.name for level in LEVELS)
_BY_NAME = {level.name: level for level in LEVELS}


def level(name: str) -> QualityLevel:
    if name not in _BY_NAME:
        raise VoiceError(f"quality must be one of {', '.join(NAMES)}, not {name!r}")
    return _BY_NAME[name]


def check(name: str | None) -> None:
    """None (the voice's default level) or a known level."""
    if name is not None:
        level(name)


def default_for(features: Collection[str], available: Collection[str], fallback: str) -> str:
    """The level a voice speaks at unless told otherwise on a CPU with `features`: the one made
    for a feature the CPU has, if the voice carries it, else the voice's own default."""
    for candidate in LEVELS:
        if candidate.default_on in features and candidate.name in available:
            return candidate.name
    return fallback


def here(available: Collection[str] = NAMES, fallback: str = DEFAULT) -> str:
    """The default level on this CPU, for a voice that carries `available` and defaults to `fallback`."""
    return default_for(cpu.features(), available, fallback)
