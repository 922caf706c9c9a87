import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { countsToString, decodeRle, encodeRle, maskAreaBbox, maskToCounts, stringToCounts } from "../src/rle";

interface Case { name: string; size: [number, number]; mask: string; counts: string; area: number; bbox: number[] }

// Written by make_rle_fixture.py with pycocotools: the encoder must match it byte for byte.
const cases: Case[] = JSON.parse(readFileSync(new URL("./fixtures/rle_cases.json", import.meta.url), "utf8"));
const maskOf = (c: Case) => Uint8Array.from(c.mask, (ch) => (ch === "1" ? 1 : 0));

describe("COCO RLE matches pycocotools", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const [h, w] = c.size;
    const mask = maskOf(c);
    const rle = encodeRle(mask, h, w);
    expect(rle.size).toEqual([h, w]);
    expect(rle.counts).toBe(c.counts);
    expect(decodeRle({ size: [h, w], counts: c.counts })).toEqual(mask);
    const { area, bbox } = maskAreaBbox(mask, h, w);
    expect(area).toBe(c.area);
    expect(bbox).toEqual(c.bbox);
  });
});

describe("RLE details", () => {
  it("counts are column-major and start with zeros", () => {
    // 2x3 row-major [[0,1,1],[1,1,0]] -> column-major 0,1 | 1,1 | 1,0
    const mask = Uint8Array.from([0, 1, 1, 1, 1, 0]);
    expect(maskToCounts(mask, 2, 3)).toEqual([1, 4, 1]);
    expect(maskToCounts(Uint8Array.from([1, 1]), 1, 2)).toEqual([0, 2]);
  });

  it("string form round-trips large and alternating counts", () => {
    const counts = [0, 5_000_000, 3, 1, 2_000_000_000 - 5_000_004, 7, 1];
    expect(stringToCounts(countsToString(counts))).toEqual(counts);
  });

  it("decodes uncompressed counts and rejects a wrong size", () => {
    expect(decodeRle({ size: [2, 3], counts: [1, 4, 1] })).toEqual(Uint8Array.from([0, 1, 1, 1, 1, 0]));
    expect(() => decodeRle({ size: [2, 2], counts: [1, 4, 1] })).toThrow(/expected 2x2/);
    expect(() => encodeRle(new Uint8Array(5), 2, 3)).toThrow(/expected 2x3/);
  });
});
