import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import type { Hw } from "../src/coords";
import { onnxLayout, serverPrompt } from "../src/serverdecoder";
import { EMPTY_PROMPT, withBox, withPoint } from "../src/prompts";
import { upscaleLogitsWholeImage } from "../src/upscale";

interface Case { low_hw: Hw; orig_hw: Hw; out_hw: Hw; low: number[]; expected_mask1: number[] }

// Written by make_upscale_whole_fixture.py with PyTorch's F.interpolate, as SAM2ImagePredictor does it.
const cases: Case[] = JSON.parse(readFileSync(new URL("./fixtures/upscale_whole_cases.json", import.meta.url), "utf8"));

describe("SAM 2 mask upscaling (whole-image frame) matches PyTorch", () => {
  it.each(cases.map((c) => [`${c.orig_hw} -> ${c.out_hw}`, c] as const))("%s", (_name, c) => {
    const out = upscaleLogitsWholeImage(Float32Array.from(c.low), 1, c.low_hw, c.orig_hw, c.out_hw);
    expect(out.length).toBe(c.out_hw[0] * c.out_hw[1]);
    let maxErr = 0;
    out.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - c.expected_mask1[i]))));
    expect(maxErr).toBeLessThan(1e-4);
  });
});

describe("server decoder requests and results", () => {
  it("sends image pixels, the box corners and multimask only for one click", () => {
    const one = withPoint(EMPTY_PROMPT, { x: 10.5, y: 20, label: 1 });
    expect(serverPrompt(one)).toEqual({ points: [[10.5, 20]], labels: [1], box: null, multimask_output: true });
    const two = withPoint(one, { x: 3, y: 4, label: 0 });
    expect(serverPrompt(two).multimask_output).toBe(false);
    const boxed = withBox(EMPTY_PROMPT, { x0: 30, y0: 40, x1: 5, y1: 6 });
    expect(serverPrompt(boxed)).toEqual({ points: [], labels: [], box: [5, 6, 30, 40], multimask_output: false });
  });

  it("lays three masks out as the ONNX decoder's 1..3, mask 0 the best", () => {
    const plane = 4;
    const lowRes = Float32Array.from([...Array(3 * plane)].map((_, i) => Math.floor(i / plane) + 1)); // mask k filled with k+1
    const r = onnxLayout({ lowRes, shape: [3, 2, 2], iou: Float32Array.from([0.2, 0.9, 0.5]), maskId: "m", serverMs: 1 }, 7);
    expect(r.numMasks).toBe(4);
    expect(r.lowHw).toEqual([2, 2]);
    expect(Array.from(r.lowRes)).toEqual([2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(Array.from(r.iou)).toEqual([0.9, 0.2, 0.9, 0.5].map(Math.fround));
    expect(r.ms).toBe(7);
  });

  it("keeps a single mask as mask 0 and refuses inconsistent answers", () => {
    const r = onnxLayout({ lowRes: new Float32Array(4), shape: [1, 2, 2], iou: Float32Array.from([0.4]), maskId: null, serverMs: 1 }, 1);
    expect(r.numMasks).toBe(1);
    expect(() => onnxLayout({ lowRes: new Float32Array(5), shape: [1, 2, 2], iou: Float32Array.from([0.4]), maskId: null, serverMs: 1 }, 1)).toThrow();
  });
});
