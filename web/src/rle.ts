/**
 * COCO run-length encoding of binary masks, written to match pycocotools exactly.
 *
 * Frames: masks in the page are row-major `Uint8Array`s of H*W values (index y*W + x, 1 = object),
 * as they come out of the decoder. COCO counts runs in column-major (Fortran) order, starting with a
 * run of zeros (possibly empty), and stores them compressed as a string (pycocotools' rleToString:
 * each count minus the count two places before, in 5-bit groups with a continuation bit, offset by 48).
 */

/** A COCO RLE as stored by samkit's server: size is [H, W]; counts in the compressed string form. */
export interface CocoRle {
  size: [number, number];
  counts: string;
}

/** Column-major run lengths of a row-major mask (first run counts zeros, may be 0). */
export function maskToCounts(mask: Uint8Array, height: number, width: number): number[] {
  if (mask.length !== height * width) {
    throw new Error(`mask has ${mask.length} values, expected ${height}x${width}=${height * width}`);
  }
  const counts: number[] = [];
  let current = 0; // value of the run being counted
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let i = x; i < mask.length; i += width) {
      const v = mask[i] ? 1 : 0;
      if (v !== current) {
        counts.push(run);
        run = 0;
        current = v;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** pycocotools' rleToString: compress counts into COCO's ASCII form. */
export function countsToString(counts: readonly number[]): string {
  const chars: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    // Deltas against the count two back (same value type) are small; |x| < 2^31 so int32 ops are exact.
    let x = counts[i] - (i > 2 ? counts[i - 2] : 0);
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      chars.push(c + 48);
    }
  }
  return decodeAscii(chars);
}

function decodeAscii(codes: number[]): string {
  // fromCharCode(...codes) overflows the call stack for very long masks; go in slices.
  let s = "";
  for (let i = 0; i < codes.length; i += 8192) s += String.fromCharCode(...codes.slice(i, i + 8192));
  return s;
}

/** pycocotools' rleFrString: the inverse of countsToString. */
export function stringToCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error("truncated COCO RLE string");
      const c = s.charCodeAt(p) - 48;
      // Multiplications instead of shifts: 5*k may pass 31, where JS shifts wrap.
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Encode a row-major binary mask as COCO RLE (compressed counts). */
export function encodeRle(mask: Uint8Array, height: number, width: number): CocoRle {
  return { size: [height, width], counts: countsToString(maskToCounts(mask, height, width)) };
}

/** Decode COCO RLE (string or uncompressed counts) into a row-major H*W mask of 0/1. */
export function decodeRle(rle: { size: [number, number]; counts: string | number[] }): Uint8Array {
  const [height, width] = rle.size;
  const counts = typeof rle.counts === "string" ? stringToCounts(rle.counts) : rle.counts;
  const mask = new Uint8Array(height * width);
  let pos = 0; // column-major position
  let value = 0;
  for (const run of counts) {
    if (value) {
      for (let j = pos; j < pos + run; j++) {
        const x = Math.floor(j / height);
        mask[(j - x * height) * width + x] = 1;
      }
    }
    pos += run;
    value ^= 1;
  }
  if (pos !== height * width) {
    throw new Error(`RLE covers ${pos} pixels, expected ${height}x${width}=${height * width}`);
  }
  return mask;
}

/** Area (pixels) and COCO bbox [x, y, w, h] (pixels, inclusive extent as pycocotools' toBbox). */
export function maskAreaBbox(mask: Uint8Array, height: number, width: number): { area: number; bbox: [number, number, number, number] } {
  let area = 0;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[row + x]) {
        area++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  if (area === 0) return { area: 0, bbox: [0, 0, 0, 0] };
  return { area, bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1] };
}
