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
 *
 * Drawing needs only the thresholded mask: `MaskUpscaler` writes it straight into a reused byte
 * buffer (no float image, no allocation per frame, taps cached per size) and skips output rows and
 * columns whose taps all lie outside the low-res mask's bounding box: bilinear weights are
 * non-negative and sum to 1, so such a pixel is a weighted mean of logits <= threshold (0 for SAM).
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

/** Output index range [first, last] whose taps reach into low-res [lo, hi] (taps rise with the index). */
function tapRange(t: Taps, lo: number, hi: number): [number, number] {
  const n = t.idx.length / 4;
  let first = 0;
  while (first < n && Math.max(t.idx[4 * first], t.idx[4 * first + 1], t.idx[4 * first + 2], t.idx[4 * first + 3]) < lo) first++;
  let last = n - 1;
  while (last >= first && Math.min(t.idx[4 * last], t.idx[4 * last + 1], t.idx[4 * last + 2], t.idx[4 * last + 3]) > hi) last--;
  return [first, last];
}

/**
 * Thresholded upscaling of one mask into a reused buffer, for drawing (one instance per drawn layer).
 * `mask(...)` returns outH x outW bytes, 1 where the upscaled logit > threshold: the same pixels as
 * thresholding upscaleLogits / upscaleLogitsWholeImage.
 */
export class MaskUpscaler {
  private key = "";
  private ty: Taps | null = null;
  private tx: Taps | null = null;
  private cols = new Float32Array(0);
  private out = new Uint8Array(0);
  private rowsUsed: [number, number] = [0, -1]; // low-res rows / cols any tap reads
  private colsUsed: [number, number] = [0, -1];

  /** SAM 1 (padded square frame: wholeImage false) or SAM 2 (logits cover the image: true). */
  mask(low: Float32Array, index: number, lowHw: Hw, imgSize: number, origHw: Hw, outHw: Hw, threshold: number,
       wholeImage = false): Uint8Array {
    const key = `${lowHw} ${imgSize} ${origHw} ${outHw} ${wholeImage}`;
    if (key !== this.key || !this.ty || !this.tx) {
      const [cropH, cropW] = wholeImage ? origHw : inputHw(origHw, imgSize);
      this.ty = compositeTaps(lowHw[0], wholeImage ? origHw[0] : imgSize, cropH, outHw[0]);
      this.tx = compositeTaps(lowHw[1], wholeImage ? origHw[1] : imgSize, cropW, outHw[1]);
      this.cols = new Float32Array(lowHw[0] * outHw[1]);
      this.out = new Uint8Array(outHw[0] * outHw[1]);
      this.rowsUsed = [this.ty.idx.reduce((a, b) => Math.min(a, b)), this.ty.idx.reduce((a, b) => Math.max(a, b))];
      this.colsUsed = [this.tx.idx.reduce((a, b) => Math.min(a, b)), this.tx.idx.reduce((a, b) => Math.max(a, b))];
      this.key = key;
    }
    const { ty, tx, cols, out, rowsUsed, colsUsed } = this;
    const [lowH, lowW] = lowHw;
    const outW = outHw[1];
    const base = index * lowH * lowW;
    out.fill(0);
    // Bounding box of the low-res logits above the threshold (rows/cols the taps can read only).
    // Per row, scan in from both ends to the first logit above the threshold (an early exit; a branch per
    // logit on a speckled mask cost more than the upscaling itself).
    let r0 = lowH, r1 = -1, c0 = lowW, c1 = -1;
    for (let r = rowsUsed[0]; r <= rowsUsed[1]; r++) {
      const row = base + r * lowW;
      let a = colsUsed[0];
      while (a <= colsUsed[1] && !(low[row + a] > threshold)) a++;
      if (a > colsUsed[1]) continue;
      let b = colsUsed[1];
      while (!(low[row + b] > threshold)) b--;
      if (r0 > r) r0 = r;
      r1 = r;
      if (a < c0) c0 = a;
      if (b > c1) c1 = b;
    }
    if (r1 < 0) return out;
    const [y0, y1] = tapRange(ty, r0, r1);
    const [x0, x1] = tapRange(tx, c0, c1);
    // Columns first, for the low-res rows the output rows y0..y1 read.
    let needLo = lowH, needHi = -1;
    for (let k = 4 * y0; k < 4 * (y1 + 1); k++) {
      needLo = Math.min(needLo, ty.idx[k]);
      needHi = Math.max(needHi, ty.idx[k]);
    }
    const txw = tx.w, txi = tx.idx; // locals: property loads in the inner loop cost as much as the math
    for (let r = needLo; r <= needHi; r++) {
      const src = base + r * lowW;
      const dst = r * outW;
      for (let x = x0; x <= x1; x++) {
        const k = 4 * x;
        cols[dst + x] =
          txw[k] * low[src + txi[k]] + txw[k + 1] * low[src + txi[k + 1]] +
          txw[k + 2] * low[src + txi[k + 2]] + txw[k + 3] * low[src + txi[k + 3]];
      }
    }
    for (let y = y0; y <= y1; y++) {
      const k = 4 * y;
      const q0 = ty.idx[k] * outW, q1 = ty.idx[k + 1] * outW, q2 = ty.idx[k + 2] * outW, q3 = ty.idx[k + 3] * outW;
      const w0 = ty.w[k], w1 = ty.w[k + 1], w2 = ty.w[k + 2], w3 = ty.w[k + 3];
      const dst = y * outW;
      for (let x = x0; x <= x1; x++) {
        // fround: the same float32 value upscaleLogits stores, so the same pixels pass the threshold.
        out[dst + x] = Math.fround(w0 * cols[q0 + x] + w1 * cols[q1 + x] + w2 * cols[q2 + x] + w3 * cols[q3 + x]) > threshold ? 1 : 0;
      }
    }
    return out;
  }
}

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
