import { describe, expect, it } from "vitest";

import { EMPTY_PROMPT, withBox, withPoint } from "../src/prompts";
import type { FramePrompt, PropagationStatus } from "../src/videoapi";
import {
  clampFrame, frameCoverage, FramePrompts, Lru, progressText, promptBody, promptFromServer, withoutLast,
} from "../src/videostate";

const stored: FramePrompt = { obj_id: 2, frame_idx: 5, points: [[10, 20], [30, 40]], labels: [1, 0], box: [1, 2, 50, 60] };

describe("video prompts", () => {
  it("round-trip between the server's stored prompt and the request body", () => {
    const p = promptFromServer(stored);
    expect(p.points).toEqual([{ x: 10, y: 20, label: 1 }, { x: 30, y: 40, label: 0 }]);
    expect(p.box).toEqual({ x0: 1, y0: 2, x1: 50, y1: 60 });
    expect(promptBody(2, p)).toEqual({ obj_id: 2, points: [[10, 20], [30, 40]], labels: [1, 0], box: [1, 2, 50, 60] });
    expect(promptBody(null, withBox(EMPTY_PROMPT, { x0: 9, y0: 8, x1: 1, y1: 2 }))).toEqual(
      { obj_id: null, points: [], labels: [], box: [1, 2, 9, 8] });
  });

  it("undo drops the last click, then the box", () => {
    const p = withPoint(withBox(EMPTY_PROMPT, { x0: 0, y0: 0, x1: 5, y1: 5 }), { x: 1, y: 1, label: 1 });
    const once = withoutLast(p);
    expect(once.points).toEqual([]);
    expect(once.box).not.toBeNull();
    expect(withoutLast(once)).toBe(EMPTY_PROMPT);
  });

  it("keeps prompts per object and frame; the new object's prompt is adopted by its id", () => {
    const prompts = new FramePrompts();
    const click = withPoint(EMPTY_PROMPT, { x: 3, y: 4, label: 1 });
    prompts.set(null, 0, click);
    expect(prompts.get(null, 0)).toBe(click);
    expect(prompts.get(null, 1)).toBe(EMPTY_PROMPT);
    prompts.adopt(0, 7);
    expect(prompts.get(null, 0)).toBe(EMPTY_PROMPT);
    expect(prompts.get(7, 0)).toBe(click);
    prompts.forgetObject(7);
    expect(prompts.get(7, 0)).toBe(EMPTY_PROMPT);
  });

  it("takes the server's prompts of a frame as the truth for the objects it names", () => {
    const prompts = new FramePrompts();
    prompts.set(1, 5, withPoint(EMPTY_PROMPT, { x: 0, y: 0, label: 1 })); // cleared on the server
    prompts.set(3, 6, withPoint(EMPTY_PROMPT, { x: 0, y: 0, label: 1 })); // another frame: untouched
    prompts.load(5, [stored], [1, 2]);
    expect(prompts.get(1, 5)).toBe(EMPTY_PROMPT);
    expect(prompts.get(2, 5).points.length).toBe(2);
    expect(prompts.get(3, 6).points.length).toBe(1);
  });
});

describe("timeline and progress", () => {
  it("marks tracked and prompted frames, prompted winning", () => {
    expect([...frameCoverage(6, [0, 1, 2, 9], [1, 4, -1])]).toEqual([1, 2, 1, 0, 2, 0]);
  });

  it("clamps frame indices into the video", () => {
    expect(clampFrame(-3, 10)).toBe(0);
    expect(clampFrame(Infinity, 10)).toBe(9);
    expect(clampFrame(4.4, 10)).toBe(4);
    expect(clampFrame(3, 0)).toBe(0);
  });

  it("describes every propagation state", () => {
    const base: PropagationStatus = { state: "running", direction: "both", start_frame_idx: 0, frames_done: 3,
      frames_total: 8, progress: 0.375, current_frame_idx: 2, error: null };
    expect(progressText(base)).toBe("Propagating… 3/8 frames");
    expect(progressText({ ...base, state: "done", frames_done: 8 })).toBe("Propagated: 8/8 frames.");
    expect(progressText({ ...base, state: "error", error: "boom" })).toBe("Propagation failed: boom");
    expect(progressText({ ...base, state: "cancelled" })).toContain("Cancelled");
    expect(progressText({ ...base, state: "idle" })).toContain("Not propagated");
  });
});

describe("Lru", () => {
  it("keeps the most recently used entries", () => {
    const lru = new Lru<number, string>(2);
    lru.set(1, "a");
    lru.set(2, "b");
    expect(lru.get(1)).toBe("a"); // 1 is now the most recent
    lru.set(3, "c");
    expect(lru.get(2)).toBeUndefined();
    expect(lru.get(1)).toBe("a");
    expect(lru.get(3)).toBe("c");
    expect(lru.size).toBe(2);
  });
});
