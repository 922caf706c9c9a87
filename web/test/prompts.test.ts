import { describe, expect, it } from "vitest";

import { displayToImage, fitSize, imageToDisplay, modelScale, outputHw } from "../src/coords";
import { decoderPoints, EMPTY_PROMPT, isAmbiguous, PromptHistory, withBox, withPoint } from "../src/prompts";

describe("decoder inputs", () => {
  it("points get a (0,0) padding point labelled -1 when there is no box", () => {
    const p = withPoint(withPoint(EMPTY_PROMPT, { x: 10, y: 20, label: 1 }), { x: 30, y: 5, label: 0 });
    const { coords, labels, n } = decoderPoints(p, 0.5);
    expect(n).toBe(3);
    expect([...coords]).toEqual([5, 10, 15, 2.5, 0, 0]);
    expect([...labels]).toEqual([1, 0, -1]);
  });

  it("a box is two corners labelled 2 and 3 and replaces the previous box", () => {
    let p = withBox(EMPTY_PROMPT, { x0: 1, y0: 1, x1: 2, y1: 2 });
    p = withBox(withPoint(p, { x: 4, y: 4, label: 1 }), { x0: 50, y0: 40, x1: 10, y1: 20 });
    const { coords, labels, n } = decoderPoints(p, 2);
    expect(n).toBe(3);
    expect([...coords]).toEqual([8, 8, 20, 40, 100, 80]);
    expect([...labels]).toEqual([1, 2, 3]);
  });

  it("only one point without a box is ambiguous", () => {
    const one = withPoint(EMPTY_PROMPT, { x: 1, y: 1, label: 1 });
    expect(isAmbiguous(one)).toBe(true);
    expect(isAmbiguous(withPoint(one, { x: 2, y: 2, label: 0 }))).toBe(false);
    expect(isAmbiguous(withBox(one, { x0: 0, y0: 0, x1: 3, y1: 3 }))).toBe(false);
  });
});

describe("undo / redo", () => {
  it("walks the history and drops the redo branch on a new edit", () => {
    const h = new PromptHistory();
    const a = withPoint(EMPTY_PROMPT, { x: 1, y: 1, label: 1 });
    const b = withPoint(a, { x: 2, y: 2, label: 0 });
    h.push(a);
    h.push(b);
    expect(h.undo()).toBe(true);
    expect(h.present).toBe(a);
    expect(h.redo()).toBe(true);
    expect(h.present).toBe(b);
    h.undo();
    h.push(EMPTY_PROMPT);
    expect(h.canRedo).toBe(false);
    h.undo();
    h.undo();
    expect(h.present).toBe(EMPTY_PROMPT);
    expect(h.undo()).toBe(false);
    h.reset();
    expect(h.canUndo).toBe(false);
  });
});

describe("coordinate frames", () => {
  it("model scale and output sizes keep the aspect ratio", () => {
    expect(modelScale([480, 640], 1024)).toBe(1.6);
    expect(outputHw([480, 640], 1024)).toEqual([480, 640]);
    expect(outputHw([3000, 4000], 1024)).toEqual([768, 1024]);
  });

  it("display <-> image round-trips and clamps inside the image", () => {
    const hw: [number, number] = [300, 400];
    const [x, y] = displayToImage(100, 60, 200, 150, hw);
    expect([x, y]).toEqual([200, 120]);
    expect(imageToDisplay(x, y, 200, 150, hw)).toEqual([100, 60]);
    const [cx, cy] = displayToImage(-5, 999, 200, 150, hw);
    expect(cx).toBe(0);
    expect(cy).toBeLessThan(300);
    expect(fitSize(hw, 800, 300)).toEqual({ width: 400, height: 300 });
  });
});
