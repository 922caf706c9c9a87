/**
 * SAM's mask postprocessing, done in the page for the one mask that is shown or accepted.
 *
 * The decoder's low-res logits (M x 4h x 4w, e.g. 256x256) become image-size masks the way the
 * model's own postprocessing does it: bilinear (half-pixel centres, like PyTorch's
 * align_corners=False) up to img_size x img_size, crop the region the resized image covered
 * (round(H * s) x round(W * s) with s = img_size / max(H, W)), then bilinear to the output size. Both
 * steps are separable linear maps, so their composition is too: each output row (column) is a
 * weighted sum of at most 4 low-res rows (columns). Computing it for one mask costs a few ms where
 * asking the ONNX graph for all four masks at full size costs hundreds (and 4 x H x W floats).
 * SAM 2's logits cover the whole image instead (`upscaleLogitsWholeImage`).
 */
import type { Hw } from "./coords";

/** Weights of PyTorch's bilinear resize (align_corners=False) from `inSize` to `outSize`. */
function linearTaps(inSize: number, outSize: number, scale: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w1 = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(0, (o + 0.5) * scale - 0.5);
    const a = Math.min(Math.floor(src), inSize - 1);
    i0[o] = a;
    i1[o] = Math.min(a + 1, inSize - 1);
    w1[o] = src - a;
  }
  return { i0, i1, w1 };
}

/**
 * Composite taps: output index -> (up to 4) low-res indices and weights along one axis.
 * lowSize -> imgSize (first resize), keep [0, cropSize), -> outSize (second resize).
 */
function compositeTaps(lowSize: number, imgSize: number, cropSize: number, outSize: number): { idx: Int32Array; w: Float32Array } {
  const first = linearTaps(lowSize, imgSize, lowSize / imgSize);
  const second = linearTaps(cropSize, outSize, cropSize / outSize);
  const idx = new Int32Array(4 * outSize);
  const w = new Float32Array(4 * outSize);
  for (let o = 0; o < outSize; o++) {
    const r0 = second.i0[o], r1 = second.i1[o], b = second.w1[o];
    idx[4 * o] = first.i0[r0];
    w[4 * o] = (1 - b) * (1 - first.w1[r0]);
    idx[4 * o + 1] = first.i1[r0];
    w[4 * o + 1] = (1 - b) * first.w1[r0];
    idx[4 * o + 2] = first.i0[r1];
    w[4 * o + 2] = b * (1 - first.w1[r1]);
    idx[4 * o + 3] = first.i1[r1];
    w[4 * o + 3] = b * first.w1[r1];
  }
  return { idx, w };
}

/** The region of the img_size square that the resized image covers, [h, w]. */
export function inputHw(origHw: Hw, imgSize: number): Hw {
  const s = imgSize / Math.max(origHw[0], origHw[1]);
  return [Math.floor(origHw[0] * s + 0.5), Math.floor(origHw[1] * s + 0.5)];
}

/**
 * Mask `index` of low-res logits (M x lowH x lowW, row-major) as logits of size outHw (row-major),
 * for an image of size origHw encoded at imgSize. outHw = origHw reproduces the model's masks output.
 */
export function upscaleLogits(low: Float32Array, index: number, lowHw: Hw, imgSize: number, origHw: Hw, outHw: Hw): Float32Array {
  const [cropH, cropW] = inputHw(origHw, imgSize);
  const ty = compositeTaps(lowHw[0], imgSize, cropH, outHw[0]);
  const tx = compositeTaps(lowHw[1], imgSize, cropW, outHw[1]);
  return applyTaps(low, index, lowHw, outHw, ty, tx);
}

/**
 * The same for SAM 2, whose low-res logits cover the whole image (it squashes the image to
 * img_size x img_size, no padding): one bilinear resize to origHw, as SAM2ImagePredictor does, then to
 * outHw. Composed the same way (low -> origHw, keep all of it, -> outHw): exact when outHw = origHw.
 */
export function upscaleLogitsWholeImage(low: Float32Array, index: number, lowHw: Hw, origHw: Hw, outHw: Hw): Float32Array {
  const ty = compositeTaps(lowHw[0], origHw[0], origHw[0], outHw[0]);
  const tx = compositeTaps(lowHw[1], origHw[1], origHw[1], outHw[1]);
  return applyTaps(low, index, lowHw, outHw, ty, tx);
}

type Taps = { idx: Int32Array; w: Float32Array };

/** Apply separable composite taps (rows `ty`, columns `tx`) to mask `index` of `low`. */
function applyTaps(low: Float32Array, index: number, lowHw: Hw, outHw: Hw, ty: Taps, tx: Taps): Float32Array {
  const [lowH, lowW] = lowHw;
  const [outH, outW] = outHw;
  const base = index * lowH * lowW;
  // Columns first: every low-res row -> outW values (only rows some output row uses are needed,
  // but all lowH rows cost little: lowH x outW x 4).
  const cols = new Float32Array(lowH * outW);
  for (let r = 0; r < lowH; r++) {
    const src = base + r * lowW;
    const dst = r * outW;
    for (let x = 0; x < outW; x++) {
      const k = 4 * x;
      cols[dst + x] =
        tx.w[k] * low[src + tx.idx[k]] + tx.w[k + 1] * low[src + tx.idx[k + 1]] +
        tx.w[k + 2] * low[src + tx.idx[k + 2]] + tx.w[k + 3] * low[src + tx.idx[k + 3]];
    }
  }
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const k = 4 * y;
    const r0 = ty.idx[k] * outW, r1 = ty.idx[k + 1] * outW, r2 = ty.idx[k + 2] * outW, r3 = ty.idx[k + 3] * outW;
    const w0 = ty.w[k], w1 = ty.w[k + 1], w2 = ty.w[k + 2], w3 = ty.w[k + 3];
    const dst = y * outW;
    for (let x = 0; x < outW; x++) {
      out[dst + x] = w0 * cols[r0 + x] + w1 * cols[r1 + x] + w2 * cols[r2 + x] + w3 * cols[r3 + x];
    }
  }
  return out;
}
