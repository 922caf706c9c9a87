/**
 * The prompt the user is building for the current object, with undo/redo.
 *
 * All coordinates are in the image frame (original pixels). A state is immutable; every edit pushes a
 * new state so undo/redo is just moving along the history.
 */

export interface PointPrompt {
  x: number;
  y: number;
  /** 1 = foreground, 0 = background (SAM's point labels). */
  label: 0 | 1;
}

/** A box as two corners in the image frame, x0 <= x1, y0 <= y1. */
export interface BoxPrompt {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface PromptState {
  readonly points: readonly PointPrompt[];
  readonly box: BoxPrompt | null;
}

export const EMPTY_PROMPT: PromptState = Object.freeze({ points: Object.freeze([]), box: null });

export function isEmpty(p: PromptState): boolean {
  return p.points.length === 0 && p.box === null;
}

/** One point and no box is ambiguous: SAM then offers three masks (outputs 1..3) to choose from. */
export function isAmbiguous(p: PromptState): boolean {
  return p.points.length === 1 && p.box === null;
}

export function withPoint(p: PromptState, point: PointPrompt): PromptState {
  return { points: [...p.points, point], box: p.box };
}

export function withBox(p: PromptState, box: BoxPrompt): PromptState {
  const norm: BoxPrompt = {
    x0: Math.min(box.x0, box.x1),
    y0: Math.min(box.y0, box.y1),
    x1: Math.max(box.x0, box.x1),
    y1: Math.max(box.y0, box.y1),
  };
  return { points: p.points, box: norm }; // SAM takes one box per object: a new box replaces the old one
}

/**
 * Decoder inputs for a prompt, as the official SAM ONNX model wants them.
 *
 * Returns point_coords (1 x N x 2, model-input frame: image px * scale) and point_labels (1 x N):
 * the points, then the box as two corners labelled 2 and 3, or, with no box, one (0, 0) point
 * labelled -1 (the padding point the official predictor adds when there is no box).
 */
export function decoderPoints(p: PromptState, scale: number): { coords: Float32Array; labels: Float32Array; n: number } {
  const n = p.points.length + (p.box ? 2 : 1);
  const coords = new Float32Array(2 * n);
  const labels = new Float32Array(n);
  p.points.forEach((pt, i) => {
    coords[2 * i] = pt.x * scale;
    coords[2 * i + 1] = pt.y * scale;
    labels[i] = pt.label;
  });
  const k = p.points.length;
  if (p.box) {
    coords.set([p.box.x0 * scale, p.box.y0 * scale, p.box.x1 * scale, p.box.y1 * scale], 2 * k);
    labels[k] = 2;
    labels[k + 1] = 3;
  } else {
    labels[k] = -1; // coords already (0, 0)
  }
  return { coords, labels, n };
}

/** Linear undo/redo history of prompt states. */
export class PromptHistory {
  private past: PromptState[] = [];
  private future: PromptState[] = [];
  private current: PromptState = EMPTY_PROMPT;

  get present(): PromptState {
    return this.current;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  /** Make `next` the present; the redo branch is dropped, as in every editor. */
  push(next: PromptState): void {
    this.past.push(this.current);
    this.current = next;
    this.future = [];
  }

  undo(): boolean {
    const prev = this.past.pop();
    if (!prev) return false;
    this.future.push(this.current);
    this.current = prev;
    return true;
  }

  redo(): boolean {
    const next = this.future.pop();
    if (!next) return false;
    this.past.push(this.current);
    this.current = next;
    return true;
  }

  /** Forget everything (a new image, or the object was accepted). */
  reset(): void {
    this.past = [];
    this.future = [];
    this.current = EMPTY_PROMPT;
  }
}
