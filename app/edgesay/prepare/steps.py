"""The steps of preparing a voice, in order, with their shares of the whole (measured on the
default voice, en_US-joe-medium, on the x86_64 dev machine: see models/README.md), so a
progress display can say how far along it is and how long is left. Kept apart from the
pipeline so that showing progress does not import onnx."""

SPLIT = "splitting the graph"
LATENTS = "calibration latents"
FLOW = "quantizing the flow"
DECODER = "quantizing the decoder"
COMPENSATION = "calibrating the Mel gain compensation"
OPTIMIZE = "optimizing graphs"
PACK = "packing the bundle"

# Seconds each step took for the default voice (191 s in all, 2026-12-01); packing was not
# timed apart and is given the few seconds zstd takes for a bundle of its size.
STEPS: tuple[tuple[str, float], ...] = (
    (SPLIT, 1.2),
    (LATENTS, 4.6),
    (FLOW, 24.5),
    (DECODER, 145.2),
    (COMPENSATION, 15.2),
    (OPTIMIZE, 0.7),
    (PACK, 3.0),
)
TITLE = "preparing the voice for this machine (once)"
