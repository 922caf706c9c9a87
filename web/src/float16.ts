/**
 * IEEE 754 half -> single precision conversion for the embedding the server sends
 * (float16 little-endian, C*h*w values: 2 MB for vit_b's 256x64x64 instead of 4 MB).
 *
 * A 65536-entry lookup table (256 KB, built once) makes the conversion one load per value.
 */

let table: Float32Array | null = null;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  return table;
}

/** Convert little-endian float16 bytes to a Float32Array (length = bytes / 2). */
export function float16BytesToFloat32(bytes: ArrayBuffer): Float32Array {
  if (bytes.byteLength % 2 !== 0) throw new Error(`float16 payload has an odd byte count (${bytes.byteLength})`);
  const lut = halfTable();
  const view = new DataView(bytes);
  const n = bytes.byteLength / 2;
  const out = new Float32Array(n);
  // Uint16Array is host-endian; every browser we target is little-endian, but check instead of assuming.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) {
    const halves = new Uint16Array(bytes);
    for (let i = 0; i < n; i++) out[i] = lut[halves[i]];
  } else {
    for (let i = 0; i < n; i++) out[i] = lut[view.getUint16(2 * i, true)];
  }
  return out;
}
