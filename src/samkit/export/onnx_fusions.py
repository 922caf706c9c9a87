"""Graph rewrites onnxruntime does not do itself on the exported decoder.

The dynamo exporter (opset 18) writes exact GELU as x * (0.5 * (1 + erf(x / sqrt 2))): five
element-wise passes over the upscaling's largest tensors. onnxruntime's GeluFusion matches
(0.5 * x) * (1 + erf(..)) and x * (1 + erf(..)) * 0.5 but not this order, so in the browser the
erf chain ran as five wasm loops. `fuse_gelu` replaces each chain by one com.microsoft Gelu node
(the same exact-erf GELU, one vectorised pass; onnxruntime then merges a preceding bias add into
BiasGelu). Applied to a saved ModelProto in place.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _is_scalar(values: dict[str, np.ndarray], name: str, want: float) -> bool:
    v = values.get(name)
    return v is not None and v.size == 1 and bool(np.isclose(float(v.reshape(-1)[0]), want, rtol=1e-6))


def fuse_gelu(model: onnx.ModelProto) -> int:
    """Rewrite Div(x, sqrt2) -> Erf -> Add(1) -> Mul(0.5) -> Mul(x) chains into Gelu(x). Returns the count."""
    graph = model.graph
    values = _constants(graph)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producer = {out: node for node in graph.node for out in node.output}
    removed: set[int] = set()
    replaced: dict[int, onnx.NodeProto] = {}
    for erf in graph.node:
        if erf.op_type != "Erf":
            continue
        div = producer.get(erf.input[0])
        if div is None or div.op_type != "Div" or not _is_scalar(values, div.input[1], float(np.sqrt(2.0))):
            continue
        chain = [erf]
        for op in ("Add", "Mul", "Mul"):
            users = consumers.get(chain[-1].output[0], [])
            if len(users) != 1 or users[0].op_type != op:
                break
            chain.append(users[0])
        if len(chain) != 4 or len(consumers.get(div.output[0], [])) != 1:
            continue
        _, add, half, times_x = chain
        x = div.input[0]
        other = lambda node, prev: [i for i in node.input if i != prev.output[0]]  # noqa: E731
        if not (other(add, erf) and _is_scalar(values, other(add, erf)[0], 1.0)
                and other(half, add) and _is_scalar(values, other(half, add)[0], 0.5)
                and other(times_x, half) == [x]):
            continue
        removed.update(id(n) for n in (div, erf, add, half))
        replaced[id(times_x)] = helper.make_node("Gelu", [x], list(times_x.output), name=f"{erf.name}_gelu",
                                                 domain="com.microsoft")
    if not replaced:
        return 0
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in removed]
    del graph.node[:]
    graph.node.extend(nodes)
    # Drop the constants only the removed nodes read (onnxruntime warns about unused initializers).
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    unused = [t for t in graph.initializer if t.name not in used]
    for t in unused:
        graph.initializer.remove(t)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(replaced)
