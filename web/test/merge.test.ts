import { describe, expect, it } from "vitest";

import type { Annotation } from "../src/api";
import { mergeAnnotations, syncedList } from "../src/savequeue";

const ann = (id: number | undefined, category: string): Annotation => ({
  id,
  category,
  segmentation: { size: [2, 2], counts: "04" },
  bbox: [0, 0, 2, 2],
  area: 4,
  predicted_iou: null,
});

describe("mergeAnnotations (a save answered 409: another client saved the image meanwhile)", () => {
  it("keeps both sides' additions, both sides' deletions, and this page's edits", () => {
    const base = [ann(1, "cat"), ann(2, "dog"), ann(3, "cow"), ann(4, "pig")];
    // The other client: relabelled 2, deleted 3, added 9.
    const theirs = [ann(1, "cat"), ann(2, "hound"), ann(4, "pig"), ann(9, "owl")];
    // This page: relabelled 1, deleted 4, added a new object (no id yet).
    const mine = [ann(1, "lion"), ann(2, "dog"), ann(3, "cow"), ann(undefined, "bee")];
    const merged = mergeAnnotations(theirs, mine, syncedList(base));
    expect(merged.map((a) => [a.id, a.category])).toEqual([
      [1, "lion"], // edited here: this page's version
      [2, "hound"], // edited there only: theirs
      [9, "owl"], // added there
      [undefined, "bee"], // added here
    ]); // 3 deleted there, 4 deleted here
  });

  it("is the stored list when this page changed nothing", () => {
    const base = [ann(1, "cat")];
    const theirs = [ann(1, "cat"), ann(5, "emu")];
    expect(mergeAnnotations(theirs, base, syncedList(base))).toEqual(theirs);
  });
});
