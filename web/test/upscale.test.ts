import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import type { Hw } from "../src/coords";
import { inputHw, MaskUpscaler, upscaleLogits, upscaleLogitsWholeImage } from "../src/upscale";

interface Case { low_hw: Hw; img_size: number; orig_hw: Hw; out_hw: Hw; low: number[]; expected_mask1: number[] }

// Written by make_upscale_fixture.py with PyTorch's F.interpolate, as SAM's postprocessing does it.
const cases: Case[] = JSON.parse(readFileSync(new URL("./fixtures/upscale_cases.json", import.meta.url), "utf8"));

describe("mask upscaling matches PyTorch's postprocessing", () => {
  it.each(cases.map((c) => [`${c.orig_hw} -> ${c.out_hw}`, c] as const))("%s", (_name, c) => {
    const out = upscaleLogits(Float32Array.from(c.low), 1, c.low_hw, c.img_size, c.orig_hw, c.out_hw);
    expect(out.length).toBe(c.out_hw[0] * c.out_hw[1]);
    let maxErr = 0;
    out.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - c.expected_mask1[i]))));
    expect(maxErr).toBeLessThan(1e-4);
  });

  it("crops the region the resized image covers", () => {
    expect(inputHw([480, 640], 1024)).toEqual([768, 1024]);
    expect(inputHw([37, 50], 64)).toEqual([47, 64]);
  });
});

describe("MaskUpscaler: the thresholded mask for drawing, in reused buffers", () => {
  /** Pixels where `mask` differs from `logits` > 0 (a count: toEqual on big arrays is very slow). */
  const mismatches = (mask: Uint8Array, logits: Float32Array) => {
    let n = mask.length === logits.length ? 0 : Infinity;
    for (let i = 0; i < logits.length; i++) if (mask[i] !== (logits[i] > 0 ? 1 : 0)) n++;
    return n;
  };

  it.each(cases.map((c) => [`${c.orig_hw} -> ${c.out_hw}`, c] as const))("fixture %s", (_name, c) => {
    const low = Float32Array.from(c.low);
    const got = new MaskUpscaler().mask(low, 1, c.low_hw, c.img_size, c.orig_hw, c.out_hw, 0);
    expect(mismatches(got, upscaleLogits(low, 1, c.low_hw, c.img_size, c.orig_hw, c.out_hw))).toBe(0);
  });

  it("skips only pixels outside the mask's reach, frame after frame (blobs, empty, whole-image frame)", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const lowHw: Hw = [64, 64];
    const up = new MaskUpscaler();
    for (const [origHw, outHw, whole] of [[[480, 640], [300, 400], false], [[700, 300], [700, 300], false],
      [[480, 640], [480, 640], true], [[33, 1000], [20, 600], false]] as [Hw, Hw, boolean][]) {
      for (let frame = 0; frame < 6; frame++) {
        const low = new Float32Array(2 * 64 * 64).map(() => -1 - rand());
        // A blob centred on the part of the low-res grid the image covers; frame 5: an empty mask.
        const [visH, visW] = whole ? lowHw : inputHw(origHw, 256).map((v) => v / 4);
        const [cy, cx, r] = [rand() * visH, rand() * visW, frame === 5 ? 0 : 1 + rand() * 12];
        for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) {
          if ((y - cy) ** 2 + (x - cx) ** 2 < r * r) low[64 * 64 + y * 64 + x] = 0.5 + rand() * 2;
        }
        const want = whole ? upscaleLogitsWholeImage(low, 1, lowHw, origHw, outHw) : upscaleLogits(low, 1, lowHw, 256, origHw, outHw);
        const got = up.mask(low, 1, lowHw, 256, origHw, outHw, 0, whole);
        expect(mismatches(got, want)).toBe(0);
        if (frame === 5) expect(got.every((v) => v === 0)).toBe(true);
        else expect(got.some((v) => v === 1)).toBe(true);
      }
    }
  });
});
