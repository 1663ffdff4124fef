"""Every on-disk format edgesay writes, with its version: one place to bump one.

A reader refuses (or rebuilds, for caches) what carries another version, so a change to what a
writer produces must bump its number here.
"""

# Voice bundles (.edgesay), voice/bundle.py. Format 2 added stored-as-is parts and the
# "shuffle4" filter; format 1 is format 2 without them and is still read. Format 3 adds parts
# made from another part when read (no bytes stored); formats 1 and 2 have none and are still read.
BUNDLE = 3
BUNDLE_OLDEST = 1
# The Mel gain compensation inside a bundle part, dsp/compensation.py (its to_dict/from_dict).
# 2 adds the floor of its levels (format 1, still read, used HiFi-GAN's 1e-5).
COMPENSATION = 2
COMPENSATION_OLDEST = 1
# The split graphs cached per Piper voice file, prepare/split.py. 2: the cut tensors are named
# z_p, y_mask and z. 3: receptive fields measured as the widest of three probes (one probe could
# come out a frame short: 13 instead of 14 for a high-quality architecture). 4: the decoder also
# cut into head and tail at its second upsampler, with their receptive fields.
SPLIT = 4
# Bundles prepared from Piper voices and cached, prepare/pipeline.py: bump when preparation makes
# different bundles, so caches are rebuilt. 3: graphs with named cut tensors. 4: the quantized
# decoders' upsamplers in polyphase form. 5: activation histograms collected in strides.
# 6: the voice's loudness gain in the bundle's meta (with this number, as "prepared").
# 7: every level's decoder in two parts, head and tail (voice/graphs.py); compensation fitted
# with a floor of 1e-8. 8: the tail's audio-rate stage in 2-D form (prepare/lift.py).
# 9: the latent graph for one sentence per run, layer norms fused (prepare/latent.py).
# 10: the compensation fitted in closed loop (dsp/compensation.py, REFINEMENTS).
# 11: each quantized level's loudness against FP32 in the meta ("level_gains").
# 12: the balanced-fp16 level (its tail's float convolutions in FP16, voice/half.py).
# 13: balanced-fp16's conv_post in FP32. 14: balanced-fp16's latent graph, its convolutions in FP16.
PREPARED = 14
# The embedded voice the binary carries, build/build.py: bump when it is packed differently.
EMBEDDED = 2
# Optimized graphs in onnxruntime's format, loading/graph_cache.py: bump when they would differ
# (other session options, other optimizers). 2: without onnxruntime's NCHWc layout.
GRAPH_CACHE = 2
