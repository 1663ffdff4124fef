"""The latent graph as the engine runs it: one sentence at a time, with its layer norms fused.

1. Masks. Piper exports the latent graph for a batch of padded sentences, multiplying activations
by masks around every layer; the engine runs one sentence with its true length
(runtime/streaming.py, Latent.run), so the masks are all ones and those passes change nothing.
A mask is recognised by how `commons.sequence_mask` exports (Less(Unsqueeze(Range(0, n, 1)),
Unsqueeze(lengths)) with `lengths` the graph's own input), and followed through the operations
that keep it; the products, masked fills and zero pads it feeds are taken out.

2. Layer norms. onnxruntime fuses VITS's nine-operation channel norm into one
LayerNormalization only in a graph that declares opset 17; a graph is declared 17 when every
operation it uses means the same there (SAME_AT_17).

Both keep what the graph computes: `same_outputs` checks that on the voice itself, and the graph
is used as exported if they differ. Why and by how much: docs/design/2026-12-03-latent-graph.md.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from ..runtime.sessions import open_session, session_options
from ..runtime.streaming import Latent
from .optimize import optimize

NOISELESS = (0.0, 1.0, 0.0)  # Piper's scales: noise, length, noise_w
TOLERANCE = 1e-4  # the same sums in another order, not another function
LENGTHS = "input_lengths"  # Piper's latent graph input: each sentence's number of ids
OPSET = 17  # LayerNormalization's opset
# Operations whose schema changed between opsets 15 and 17 (all in 16) without changing what a
# graph of opset 15 computes with them: bfloat16 or optional types added, or, for the Scatters,
# a `reduction` attribute whose default is the old behaviour. Not here: RoiAlign (16 changed
# its default coordinate mode), If and Loop (their bodies are graphs of their own).
SAME_AT_17 = {"Where", "ScatterND", "ScatterElements", "GreaterOrEqual", "LessOrEqual", "Identity", "LeakyRelu",
              "PRelu"}
# Operations whose output is all ones when their (first) input is: a reshaped or converted mask.
KEEPS_ONES = {"Cast", "Unsqueeze", "Squeeze", "Transpose", "Reshape", "Expand", "Identity", "Flatten"}


@dataclass(frozen=True)
class Removed:
    """What `specialize` took out of a graph."""

    muls: int  # x * mask
    wheres: int  # Where(mask == 0, fill, x)
    pads: int  # zero Pads folded into the convolution after them


def specialize(model: onnx.ModelProto) -> Removed:
    """Rewrite, in place, a latent graph for one sentence per run."""
    graph = model.graph
    constants = _constants(graph)
    producers = {out: node for node in graph.node for out in node.output}
    ones = {node.output[0] for node in graph.node if _is_full_mask(node, producers, constants)}
    falses: set[str] = set()
    same: dict[str, str] = {}  # output -> the input it equals
    muls = wheres = 0
    for node in graph.node:  # topological order: a node's inputs are settled before it
        inputs = [same.get(name, name) for name in node.input]
        if _keeps_ones(node.op_type, inputs, ones):
            ones.add(node.output[0])
        elif _all_false(node.op_type, inputs, ones, constants):
            falses.add(node.output[0])
        elif node.op_type == "Mul" and len(_others(inputs, ones, constants)) == 1:
            # (times a constant, the mask's shape would be lost: left alone)
            same[node.output[0]] = _others(inputs, ones, constants)[0]
            muls += 1
        elif node.op_type == "Where" and inputs[0] in falses | ones:
            same[node.output[0]] = inputs[2] if inputs[0] in falses else inputs[1]
            wheres += 1
    _bypass(graph, same)
    pads = _fold_pads(graph, constants)
    _drop_unused(graph)
    return Removed(muls, wheres, pads)


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _value(name: str, constants: dict[str, np.ndarray]) -> float | None:
    """A scalar constant's value (None for anything else)."""
    array = constants.get(name)
    return float(array.reshape(-1)[0]) if array is not None and array.size == 1 else None


def _keeps_ones(op_type: str, inputs: list[str], ones: set[str]) -> bool:
    """A mask reshaped or converted, or the product of two masks."""
    if op_type in KEEPS_ONES:
        return bool(inputs) and inputs[0] in ones
    return op_type in ("Mul", "And") and all(name in ones for name in inputs)


def _all_false(op_type: str, inputs: list[str], ones: set[str], constants: dict[str, np.ndarray]) -> bool:
    """mask == 0, or not mask."""
    if op_type == "Not":
        return inputs[0] in ones
    return op_type == "Equal" and any(name in ones for name in inputs) and any(
        _value(name, constants) == 0 for name in inputs)


def _others(inputs: list[str], ones: set[str], constants: dict[str, np.ndarray]) -> list[str]:
    """A Mul's operands other than a mask, when the other is one tensor computed by the graph."""
    others = [name for name in inputs if name not in ones]
    return others if len(others) == 1 and len(inputs) == 2 and others[0] not in constants else []


def _is_full_mask(node: onnx.NodeProto, producers: dict, constants: dict[str, np.ndarray]) -> bool:
    """Less(Unsqueeze(Range(0, n, 1)), Unsqueeze(lengths)) that is all true for one sentence."""
    if node.op_type != "Less":
        return False
    positions, lengths = (producers.get(name) for name in node.input)
    if positions is None or lengths is None or positions.op_type != "Unsqueeze" or lengths.op_type != "Unsqueeze":
        return False
    steps = producers.get(positions.input[0])
    if steps is None or steps.op_type != "Range" or (_value(steps.input[0], constants), _value(
            steps.input[2], constants)) != (0, 1):
        return False
    longest = producers.get(steps.input[1])
    return lengths.input[0] == LENGTHS or (
        longest is not None and longest.op_type == "ReduceMax" and longest.input[0] == lengths.input[0])


def _bypass(graph: onnx.GraphProto, same: dict[str, str]) -> None:
    """Readers of each bypassed tensor read what it equals; a graph output keeps its name
    through an Identity."""
    def root(name: str) -> str:
        while name in same:
            name = same[name]
        return name

    outputs = {output.name for output in graph.output}
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = root(name)
    kept: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.output[0] in same and node.output[0] in outputs:
            kept.append(helper.make_node("Identity", [root(node.output[0])], [node.output[0]], name=node.name))
        elif node.output[0] not in same:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def _fold_pads(graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> int:
    """Pad(x, zeros on the last axis) read only by a convolution becomes that convolution's
    own padding (the same zeros, without a copy of x)."""
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    folded: dict[str, str] = {}
    for node in graph.node:
        conv = readers.get(node.output[0], [None])
        if node.op_type != "Pad" or len(conv) != 1 or conv[0] is None or conv[0].op_type != "Conv":
            continue
        pads = constants.get(node.input[1]) if len(node.input) > 1 else None
        value = _value(node.input[2], constants) if len(node.input) > 2 and node.input[2] else 0.0
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (pads is None or pads.size != 6 or value != 0.0 or attributes.get("mode", b"constant") != b"constant"
                or np.any(pads[[0, 1, 3, 4]]) or conv[0].input[0] != node.output[0]
                or not _add_conv_pads(conv[0], int(pads[2]), int(pads[5]))):
            continue
        conv[0].input[0] = node.input[0]
        folded[node.output[0]] = node.input[0]
    return len(folded)


def _add_conv_pads(conv: onnx.NodeProto, left: int, right: int) -> bool:
    attributes = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    if attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return False
    begin, end = attributes.get("pads", [0, 0])
    del conv.attribute[:]
    for name, value in (attributes | {"pads": [begin + left, end + right]}).items():
        conv.attribute.append(helper.make_attribute(name, value))
    return True


def _drop_unused(graph: onnx.GraphProto) -> None:
    """Nodes (and initializers) nothing reads any more, back to front."""
    needed = {output.name for output in graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def declare_opset(model: onnx.ModelProto) -> bool:
    """Declare the graph opset 17 when that changes the meaning of none of its operations."""
    default = next((o for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if default is None or default.version >= OPSET:
        return False
    for op_type in {node.op_type for node in model.graph.node if node.domain in ("", "ai.onnx")}:
        try:
            changed = (onnx.defs.get_schema(op_type, default.version).since_version
                       != onnx.defs.get_schema(op_type, OPSET).since_version)
        except onnx.defs.SchemaError:
            return False
        if changed and op_type not in SAME_AT_17:
            return False
    default.version = OPSET
    return True


@dataclass(frozen=True)
class Lighter:
    """A latent graph after both rewrites, and what they did."""

    graph: bytes
    removed: Removed
    opset: bool  # declared opset 17


def lighter_graph(graph: bytes) -> Lighter:
    """Both rewrites on serialized graph bytes. The opset comes first: onnxruntime fuses layer
    norms into the standard LayerNormalization among its basic optimizations, before its
    transpose optimizer moves the norms' transposes away and leaves a chain it no longer
    recognises (measured: declared after, no norm was fused). The masks are taken out of the
    basic optimizations' result, where the amounts of every Pad are folded into initializers
    (newer exporters compute them from Constant nodes)."""
    model = onnx.load_from_string(graph)
    opset = declare_opset(model)
    model = onnx.load_from_string(optimize(model.SerializeToString(), ort.GraphOptimizationLevel.ORT_ENABLE_BASIC))
    removed = specialize(model)
    return Lighter(model.SerializeToString(), removed, opset)


def probe_ids(id_map: Iterable[Iterable[int]], lengths: tuple[int, ...] = (24, 240)) -> list[list[int]]:
    """Sentences of the voice's own phoneme ids, as probes for `same_outputs`: every symbol in
    turn, stepped through with a prime stride so that neighbours vary (no numpy.random, which
    the binary leaves out: build/options.toml)."""
    symbols = sorted({i for ids in id_map for i in ids})
    return [[symbols[(n * 7919 + size) % len(symbols)] for n in range(size)] for size in lengths]


def same_outputs(original: bytes, specialized: bytes, probes: list[list[int]], speakers: int) -> bool:
    """Whether two latent graphs give the same frames for every probe and speaker, without
    noise: onnxruntime seeds a random node with the process's seed plus the node's index in the
    graph, and the indices change with the nodes removed, so with noise the draws differ (the
    same distribution, and still the same in every process: runtime/sessions.py seed_noise)."""
    options = session_options(1)
    graphs = [Latent(open_session(graph, options, "a latent graph")) for graph in (original, specialized)]
    for ids in probes:
        for speaker in range(speakers) if speakers > 1 else (None,):
            a, b = (graph.run(ids, NOISELESS, speaker) for graph in graphs)
            if a.shape != b.shape or float(np.max(np.abs(a - b), initial=0.0)) > TOLERANCE:
                return False
    return True
