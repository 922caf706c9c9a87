import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import type { Hw } from "../src/coords";
import { inputHw, upscaleLogits } from "../src/upscale";

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
