/**
 * The video mode's bookkeeping, kept free of the DOM so it is unit-tested: each object's prompt per
 * frame (what the page sends back whole on every click), the request bodies, the timeline's per-frame
 * coverage, progress text, and a small LRU for decoded frames.
 */
import { EMPTY_PROMPT, isEmpty, type PromptState } from "./prompts";
import type { FramePrompt, PropagationStatus, VideoPromptBody } from "./videoapi";

/** Object id of a prompt, or null for the object the next response will name (a new one). */
export type ObjKey = number | null;

const keyOf = (obj: ObjKey, frame: number) => `${obj ?? "new"}@${frame}`;

/** The server's stored prompt as the page's prompt state (video pixels). */
export function promptFromServer(p: FramePrompt): PromptState {
  return {
    points: p.points.map(([x, y], i) => ({ x, y, label: p.labels[i] === 0 ? 0 : 1 })),
    box: p.box ? { x0: p.box[0], y0: p.box[1], x1: p.box[2], y1: p.box[3] } : null,
  };
}

/** The request body that gives object `obj` (null: a new one) this whole prompt on a frame. */
export function promptBody(obj: ObjKey, p: PromptState): VideoPromptBody {
  return {
    obj_id: obj,
    points: p.points.map((pt) => [pt.x, pt.y] as [number, number]),
    labels: p.points.map((pt) => pt.label),
    box: p.box ? [p.box.x0, p.box.y0, p.box.x1, p.box.y1] : null,
  };
}

/** Undo one gesture: drop the last click, or the box when no click is left. */
export function withoutLast(p: PromptState): PromptState {
  if (p.points.length) return { points: p.points.slice(0, -1), box: p.box };
  return EMPTY_PROMPT;
}

/** Every object's prompt on every frame the page has seen (or edited). */
export class FramePrompts {
  private readonly map = new Map<string, PromptState>();

  get(obj: ObjKey, frame: number): PromptState {
    return this.map.get(keyOf(obj, frame)) ?? EMPTY_PROMPT;
  }

  set(obj: ObjKey, frame: number, p: PromptState): void {
    if (isEmpty(p)) this.map.delete(keyOf(obj, frame));
    else this.map.set(keyOf(obj, frame), p);
  }

  /** Take the server's prompts of a frame as the truth for every known object on it. */
  load(frame: number, prompts: readonly FramePrompt[], objects: readonly number[]): void {
    for (const obj of objects) this.map.delete(keyOf(obj, frame));
    for (const p of prompts) this.set(p.obj_id, frame, promptFromServer(p));
  }

  /** The new object's prompt on `frame` now belongs to the id the server gave it. */
  adopt(frame: number, id: number): void {
    const p = this.map.get(keyOf(null, frame));
    this.map.delete(keyOf(null, frame));
    if (p) this.map.set(keyOf(id, frame), p);
  }

  forgetObject(id: number): void {
    for (const k of [...this.map.keys()]) if (k.startsWith(`${id}@`)) this.map.delete(k);
  }

  clear(): void {
    this.map.clear();
  }
}

/** Per frame: 0 nothing stored, 1 tracked masks, 2 prompted (for the timeline strip). */
export function frameCoverage(numFrames: number, masked: readonly number[], prompted: readonly number[]): Uint8Array {
  const out = new Uint8Array(Math.max(0, numFrames));
  for (const t of masked) if (t >= 0 && t < numFrames) out[t] = 1;
  for (const t of prompted) if (t >= 0 && t < numFrames) out[t] = 2;
  return out;
}

export function clampFrame(t: number, numFrames: number): number {
  return Math.min(Math.max(0, Math.round(t)), Math.max(0, numFrames - 1));
}

/** One line about a propagation for the panel. */
export function progressText(s: PropagationStatus): string {
  const frames = `${s.frames_done}/${s.frames_total} frames`;
  switch (s.state) {
    case "idle": return "Not propagated yet.";
    case "running": return `Propagating… ${frames}`;
    case "done": return `Propagated: ${frames}.`;
    case "cancelled": return `Cancelled after ${frames}.`;
    case "error": return `Propagation failed: ${s.error ?? "unknown error"}`;
  }
}

/** A map that keeps the `capacity` most recently used entries. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
