import { describe, expect, it } from "vitest";

import { EMPTY_PROMPT, withBox, withPoint } from "../src/prompts";
import { isEmptyWithText, keepText, promptText, withText } from "../src/textprompt";

describe("text in the prompt state", () => {
  it("a text alone is a prompt; an empty text is none", () => {
    expect(isEmptyWithText(EMPTY_PROMPT)).toBe(true);
    expect(isEmptyWithText(withText(EMPTY_PROMPT, " dog "))).toBe(false);
    expect(promptText(withText(EMPTY_PROMPT, " dog "))).toBe("dog");
    expect(isEmptyWithText(withText(EMPTY_PROMPT, "   "))).toBe(true);
  });

  it("clicks and a box added after the text keep it; dropping the text keeps the clicks", () => {
    const text = withText(EMPTY_PROMPT, "teddy bear");
    const clicked = keepText(text, withPoint(text, { x: 3, y: 4, label: 1 }));
    const boxed = keepText(clicked, withBox(clicked, { x0: 9, y0: 9, x1: 1, y1: 2 }));
    expect(promptText(boxed)).toBe("teddy bear");
    expect(boxed.points).toEqual([{ x: 3, y: 4, label: 1 }]);
    expect(boxed.box).toEqual({ x0: 1, y0: 2, x1: 9, y1: 9 });
    const dropped = withText(boxed, "");
    expect(promptText(dropped)).toBe("");
    expect(dropped.points).toEqual(boxed.points);
    expect(isEmptyWithText(dropped)).toBe(false);
  });
});
