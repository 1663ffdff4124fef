"""The steps of preparing a voice, in order, with their shares of the whole (as timed on the
default voice by bench/prepare_time.py), so a progress display can say how far along it is and how
long is left. Kept apart from the pipeline so that showing progress does not import onnx."""

SPLIT = "splitting the graph"
LATENTS = "calibration latents"
FLOW = "quantizing the flow"
DECODER = "quantizing the decoder"
COMPENSATION = "calibrating the Mel gain compensation"
OPTIMIZE = "optimizing graphs"
PACK = "packing the bundle"
# Not a step of preparing: a voice run at the reference level without preparation measures only this.
LOUDNESS = "measuring the voice's loudness"

# Seconds each step took for the default voice; packing is given the few seconds zstd takes
# for a bundle of its size.
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
