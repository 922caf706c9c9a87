import { describe, expect, it } from "vitest";

import { float16BytesToFloat32 } from "../src/float16";

function halves(values: number[]): ArrayBuffer {
  const buf = new ArrayBuffer(values.length * 2);
  const view = new DataView(buf);
  values.forEach((v, i) => view.setUint16(2 * i, v, true));
  return buf;
}

describe("float16 -> float32", () => {
  it("converts normal, subnormal and special values exactly", () => {
    const out = float16BytesToFloat32(halves([0x0000, 0x8000, 0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00]));
    expect(out[0]).toBe(0);
    expect(Object.is(out[1], -0)).toBe(true);
    expect(out[2]).toBe(1);
    expect(out[3]).toBe(-2);
    expect(out[4]).toBeCloseTo(0.333251953125, 12);
    expect(out[5]).toBe(65504);
    expect(out[6]).toBe(2 ** -24);
    expect(out[7]).toBe(1023 * 2 ** -24);
    expect(out[8]).toBe(Infinity);
    expect(out[9]).toBe(-Infinity);
    expect(Number.isNaN(out[10])).toBe(true);
  });

  it("rejects an odd byte count", () => {
    expect(() => float16BytesToFloat32(new ArrayBuffer(3))).toThrow(/odd/);
  });
});
