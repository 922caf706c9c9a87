import { describe, expect, it } from "vitest";

import { sam2Points } from "../src/sam2decoder";
import { EMPTY_PROMPT, withBox, withPoint } from "../src/prompts";

describe("SAM 2 prompt graph points", () => {
  it("squash the image to img_size x img_size and always end with one padding point", () => {
    const p = withPoint(withPoint(EMPTY_PROMPT, { x: 100, y: 50, label: 1 }), { x: 300, y: 200, label: 0 });
    const { coords, labels, n } = sam2Points(p, [400, 800], 1024);
    expect(n).toBe(3);
    expect(Array.from(coords)).toEqual([128, 128, 384, 512, 0, 0]);
    expect(Array.from(labels)).toEqual([1, 0, -1]);
  });

  it("put box corners after the points, labelled 2 and 3, still padded", () => {
    const p = withBox(EMPTY_PROMPT, { x0: 0, y0: 0, x1: 200, y1: 100 });
    const { coords, labels, n } = sam2Points(p, [100, 200], 256);
    expect(n).toBe(3);
    expect(Array.from(coords)).toEqual([0, 0, 256, 256, 0, 0]);
    expect(Array.from(labels)).toEqual([2, 3, -1]);
  });
});
