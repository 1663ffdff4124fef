"""A voice split into the three graphs the engine streams through, and what windowing them needs.

    text ids --latent--> z_p (whole sentence) --flow--> z --decoder--> audio (windows)

The decoder may come in two graphs cut at `h`, the input of its second upsampler: a head
(frame rate to 8x, its widest context) and a tail (the costly high-rate stages, which need only
a frame or two of context). Windows then recompute the head's context, not the whole
decoder's (runtime/streaming.py).

The graphs come as files (a split cache), bytes, or parts of a bundle read on demand; the
numbers (channels, hop, receptive fields) are measured once when a voice is split
(prepare/split.py) and travel with the graphs in caches and bundles.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import VoiceError
from .config import VoiceConfig


@dataclass(frozen=True)
class StoredGraph:
    """A graph in a bundle, named by the sha256 of its bytes and read (decompressed and
    checked) only when no optimized copy of it is cached."""

    name: str
    sha256: str
    read: Callable[[], bytes]


Graph = Path | bytes | StoredGraph
# Where the voice is cut, as prepare/split.py names those tensors in the split graphs: z_p and
# y_mask between the latent graph and the flow, z between the flow and the decoder.
TENSORS = ("z_p", "y_mask", "z")
# Where the decoder is cut into head and tail (prepare/split.py names it so).
DECODER_CUT = "h"


@dataclass(frozen=True)
class SplitVoice:
    """The split graphs of one voice, with what the engine must know to window them."""

    latent: Graph
    flow: Graph
    decoder: Graph
    channels: int  # latent channels (192 for Piper voices)
    hop: int  # audio samples per latent frame
    flow_pad: int  # frames of context either side that make flow windows exact
    decoder_pad: int  # the same for the whole decoder
    multi_speaker: bool
    # With a cut decoder, `decoder` is its head and this its tail (None: one whole decoder).
    decoder_tail: Graph | None = None
    cut_rate: int = 0  # samples of h per latent frame (0: not measured, an older split)
    cut_channels: int = 0  # channels of h
    head_pad: int = 0  # frames of context either side that make head windows exact
    tail_pad: int = 0  # the same for the tail, in whole frames of h

    def meta(self) -> dict[str, int | bool]:
        """What the engine must know besides the graphs (stored in caches and bundles)."""
        return {"channels": self.channels, "hop": self.hop, "flow_pad": self.flow_pad,
                "decoder_pad": self.decoder_pad, "multi_speaker": self.multi_speaker,
                "cut_rate": self.cut_rate, "cut_channels": self.cut_channels, "head_pad": self.head_pad,
                "tail_pad": self.tail_pad}

    @classmethod
    def from_meta(cls, latent: Graph, flow: Graph, decoder: Graph, meta: dict,
                  decoder_tail: Graph | None = None) -> "SplitVoice":
        cut = {key: int(meta.get(key, 0)) for key in ("cut_rate", "cut_channels", "head_pad", "tail_pad")}
        if decoder_tail is not None and not all(cut[key] > 0 for key in ("cut_rate", "cut_channels", "head_pad")):
            raise ValueError("a decoder cut in two without the numbers of its cut")
        return cls(latent=latent, flow=flow, decoder=decoder, channels=int(meta["channels"]),
                   hop=int(meta["hop"]), flow_pad=int(meta["flow_pad"]), decoder_pad=int(meta["decoder_pad"]),
                   multi_speaker=bool(meta["multi_speaker"]), decoder_tail=decoder_tail, **cut)

    @property
    def window_pad(self) -> int:
        """Context either side of a decoder window: the head's and the tail's for a cut decoder
        (12 -> 11 + 2 frames for joe, but only the cheap head sees 11)."""
        return self.head_pad + self.tail_pad if self.decoder_tail is not None else self.decoder_pad

    def without_graphs(self) -> "SplitVoice":
        """The numbers only: once onnxruntime holds its own copy of each graph, bytes (or a
        bundle's graph, which keeps the bundle's file mapped) are not kept twice."""
        tail = None if self.decoder_tail is None else b""
        return dataclasses.replace(self, latent=b"", flow=b"", decoder=b"", decoder_tail=tail)

    def check(self, config: VoiceConfig) -> None:
        """A config that does not belong to its graph would crash onnxruntime mid-sentence."""
        if (config.num_speakers > 1) != self.multi_speaker:
            graph = "several speakers" if self.multi_speaker else "one speaker"
            raise VoiceError(f"voice config {config.name} says {config.num_speakers} speaker(s) but its graph "
                             f"has {graph}")
        if config.hop_length != self.hop:
            raise VoiceError(f"voice config {config.name} says hop_length {config.hop_length} "
                             f"but its graph makes {self.hop} samples per frame")
