"""The decoder's optimisation steps, each timed in Chromium (onnxruntime-web) and native onnxruntime.

Used by browser_decode.py. Every step is an ONNX file of the same decoder (same weights, same
answers); a bare page (no annotator) loads them all into onnxruntime-web and times `session.run`
per click with the runs interleaved (click i of every file, then click i + 1), so load from other
processes falls on all files alike. Native onnxruntime runs the same files on the same clicks,
also interleaved.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ORT_DIST = REPO / "web" / "node_modules" / "onnxruntime-web" / "dist"
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
OUTPUTS = ["low_res_masks", "iou_predictions"]

PAGE = """<!doctype html><html><head><link rel="icon" href="data:,"></head><body><script type="module">
import * as ort from "./ort.wasm.min.mjs";
const bytes = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());
window.bench = async (cfg) => {
  ort.env.wasm.wasmPaths = new URL("./", location.href).href;
  ort.env.wasm.numThreads = cfg.threads;
  // Workers sleep after a run, as in the annotator page (web/src/decoder.ts): spinning workers of one
  // session would steal the cores from the next session's run in this interleaved loop.
  const opts = { executionProviders: ["wasm"], graphOptimizationLevel: "all",
                 extra: { session: { intra_op: { allow_spinning: "0" } } } };
  const [c, h, w] = cfg.embedding;
  const values = new Float32Array(c * h * w);
  let s = 1;
  for (let i = 0; i < values.length; i++) { s = (s * 16807) % 2147483647; values[i] = 2 * s / 2147483647 - 1; }
  const emb = new ort.Tensor("float32", values, [1, c, h, w]);
  const zeros = new ort.Tensor("float32", new Float32Array(16 * h * w), [1, 1, 4 * h, 4 * w]);
  const names = Object.keys(cfg.files), sessions = {}, sides = {}, ms = {};
  for (const n of names) {
    const f = cfg.files[n];
    sessions[n] = await ort.InferenceSession.create(await bytes(f.prompt), opts);
    if (f.image) {
      const inputs = {};  // the image graph's inputs: SAM 1's embedding, or SAM 2's three feature maps
      for (const [name, shape] of (f.imageInputs || [["image_embeddings", [1, c, h, w]]])) {
        const size = shape.reduce((a, b) => a * b, 1);
        inputs[name] = new ort.Tensor("float32", name === "image_embeddings" ? values : new Float32Array(size).fill(0.1), shape);
      }
      sides[n] = await (await ort.InferenceSession.create(await bytes(f.image), opts)).run(inputs);
    }
    ms[n] = [];
  }
  for (let i = 0; i < cfg.clicks.length; i++) {
    for (const n of names) {
      const sess = sessions[n], [x, y] = cfg.clicks[i];
      const feeds = { point_coords: new ort.Tensor("float32", new Float32Array([x, y, 0, 0]), [1, 2, 2]),
                      point_labels: new ort.Tensor("float32", new Float32Array([1, -1]), [1, 2]),
                      orig_im_size: new ort.Tensor("float32", new Float32Array(cfg.origHw), [2]),
                      image_embeddings: emb, mask_input: zeros,
                      has_mask_input: new ort.Tensor("float32", new Float32Array([0]), [1]), ...(sides[n] || {}) };
      for (const k of Object.keys(feeds)) if (!sess.inputNames.includes(k)) delete feeds[k];
      const t0 = performance.now();
      await sess.run(feeds, ["low_res_masks", "iou_predictions"]);
      if (i >= cfg.warmup) ms[n].push(performance.now() - t0);
    }
  }
  return ms;
};
window.benchReady = true;
</script></body></html>
"""


class _Isolated(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers that let the page use wasm threads."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".wasm": "application/wasm"}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args):
        pass


def export_steps(model, folder: Path) -> dict[str, dict[str, str]]:
    """The decoder after each step: name -> {"prompt": file, "image": file or absent}."""
    from samkit.export import export_decoder
    from samkit.export.decoder_split import export_split_decoder

    folder.mkdir(parents=True, exist_ok=True)
    export_decoder(model, folder / "official.onnx")
    steps = {"official graph (image work in every click)": {"prompt": "official.onnx"}}
    no_fold = dict(fold_upscaling=False)
    variants = [("+ image-side work once per image", "split", dict(fuse=False, crop_upscaling=False, **no_fold)),
                ("+ fused GELU", "gelu", dict(fuse=True, crop_upscaling=False, **no_fold)),
                ("+ upscaling only under the image", "crop", dict(no_fold)),
                ("+ first upscaling conv's image part once per image", "fold", dict()),
                ("+ int8 MatMul weights", "int8", dict(quantize=True))]
    for label, stem, kwargs in variants:
        export_split_decoder(model, folder / "image.onnx", folder / f"{stem}.onnx", **kwargs)
        steps[label] = {"prompt": f"{stem}.onnx", "image": "image.onnx"}
    return steps


def export_sam2_steps(model, folder: Path) -> dict[str, dict]:
    """SAM 2's split decoder (fp32, int8) for the steps table; the image graph takes SAM 2's three maps."""
    import onnx

    from samkit.export.onnx_fusions import fuse_gelu
    from samkit.export.quantize import quantize_decoder
    from samkit.export.sam2_decoder_split import export_sam2_split_decoder

    folder.mkdir(parents=True, exist_ok=True)
    # The quantiser's shape inference stops at com.microsoft ops: quantise the unfused graph, fuse after.
    export_sam2_split_decoder(model, folder / "sam2_image.onnx", folder / "sam2_unfused.onnx", fuse=False)
    proto = onnx.load(str(folder / "sam2_unfused.onnx"))
    fuse_gelu(proto)
    onnx.save(proto, str(folder / "sam2_prompt.onnx"))
    quantize_decoder(folder / "sam2_unfused.onnx", folder / "sam2_prompt_int8.onnx")
    proto = onnx.load(str(folder / "sam2_prompt_int8.onnx"))
    fuse_gelu(proto)
    onnx.save(proto, str(folder / "sam2_prompt_int8.onnx"))
    c = int(model.sam_prompt_encoder.embed_dim)
    h, w = (int(s) for s in model.sam_prompt_encoder.image_embedding_size)
    inputs = [["image_embed", [1, c, h, w]], ["feat_s0", [1, c // 8, 4 * h, 4 * w]], ["feat_s1", [1, c // 4, 2 * h, 2 * w]]]
    return {f"SAM 2 (hiera_b+ decoder): split, {kind}": {"prompt": f, "image": "sam2_image.onnx", "imageInputs": inputs}
            for kind, f in (("fp32", "sam2_prompt.onnx"), ("int8", "sam2_prompt_int8.onnx"))}


def native_ms(folder: Path, steps, clicks, orig_hw, embedding_shape, threads: int, warmup: int = 2):
    """Per step, ms per click in native onnxruntime, runs interleaved across steps."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    emb = np.random.default_rng(0).uniform(-1, 1, (1, *embedding_shape)).astype(np.float32)
    c, h, w = embedding_shape
    sessions, sides = {}, {}
    for name, files in steps.items():
        sessions[name] = ort.InferenceSession(str(folder / files["prompt"]), opts, providers=["CPUExecutionProvider"])
        if "image" in files:
            image = ort.InferenceSession(str(folder / files["image"]), opts, providers=["CPUExecutionProvider"])
            shapes = files.get("imageInputs", [["image_embeddings", [1, *embedding_shape]]])
            inputs = {n: (emb if n == "image_embeddings" else np.full(shape, 0.1, np.float32)) for n, shape in shapes}
            sides[name] = dict(zip([o.name for o in image.get_outputs()], image.run(None, inputs)))
    out = {name: [] for name in steps}
    for i, (x, y) in enumerate(clicks):
        for name, sess in sessions.items():
            feeds = {"point_coords": np.array([[[x, y], [0, 0]]], np.float32), "point_labels": np.array([[1, -1]], np.float32),
                     "orig_im_size": np.array(orig_hw, np.float32), "image_embeddings": emb,
                     "mask_input": np.zeros((1, 1, 4 * h, 4 * w), np.float32), "has_mask_input": np.zeros(1, np.float32),
                     **sides.get(name, {})}
            wanted = {i.name for i in sess.get_inputs()}
            feeds = {k: v for k, v in feeds.items() if k in wanted}
            t0 = time.perf_counter()
            sess.run(OUTPUTS, feeds)
            if i >= warmup:
                out[name].append(1e3 * (time.perf_counter() - t0))
    return out


def page_ms(folder: Path, steps, clicks, orig_hw, embedding_shape, threads: int, warmup: int = 2):
    """Per step, ms per click in Chromium's onnxruntime-web (wasm, `threads` threads), interleaved."""
    from browser.harness import chromium_page, free_port

    for name in ORT_FILES:
        shutil.copy(ORT_DIST / name, folder / name)
    (folder / "index.html").write_text(PAGE)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()),
                                             functools.partial(_Isolated, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with chromium_page() as page:
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            page.wait_for_function("window.benchReady === true")
            cfg = {"threads": threads, "files": steps, "clicks": clicks, "origHw": list(orig_hw),
                   "embedding": list(embedding_shape), "warmup": warmup}
            result = page.evaluate("(cfg) => window.bench(cfg)", cfg)
            assert not page.errors, page.errors
            return result
    finally:
        server.shutdown()
