import { describe, expect, it } from "vitest";

import { SaveQueue } from "../src/savequeue";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("SaveQueue", () => {
  it("runs saves in order, one at a time, and tracks what is unsaved", async () => {
    const q = new SaveQueue();
    const log: string[] = [];
    let release!: () => void;
    const first = q.run(() => new Promise<void>((r) => { log.push("first start"); release = () => { log.push("first end"); r(); }; }));
    const second = q.run(async () => { log.push("second"); });
    await tick();
    expect(log).toEqual(["first start"]); // the second waits for the first
    expect(q.hasUnsaved).toBe(true);
    release();
    await first;
    await second;
    expect(log).toEqual(["first start", "first end", "second"]);
    expect(q.hasUnsaved).toBe(false);
  });

  it("a failed save leaves the queue unsaved until a later one succeeds, and does not block it", async () => {
    const q = new SaveQueue();
    await expect(q.run(async () => { throw new Error("HTTP 500"); })).rejects.toThrow("HTTP 500");
    expect(q.hasUnsaved).toBe(true);
    await q.run(async () => undefined);
    expect(q.hasUnsaved).toBe(false);
    await expect(q.flush()).resolves.toBeUndefined();
  });
});
