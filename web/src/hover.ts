/**
 * Live preview under the mouse: after the mouse rests for a moment, decode a single foreground point
 * there. At most one preview decode runs at a time; positions that arrive meanwhile collapse into one
 * decode of the newest position when it ends, so a moving mouse never builds a queue of stale work.
 */
import { EMPTY_PROMPT, withPoint, type PromptState } from "./prompts";
import type { DecodeResult } from "./decoder";

/** Quiet time after the mouse stops before a preview is decoded. */
const HOVER_DEBOUNCE_MS = 30;

export interface HoverHost {
  /** Whether a preview may run now (image ready, no prompt placed, preview switched on). */
  active(): boolean;
  decode(prompt: PromptState): Promise<DecodeResult>;
  /** A preview for `prompt` is ready (null: remove the preview). */
  show(preview: { result: DecodeResult; prompt: PromptState } | null): void;
}

export class HoverPreview {
  private timer = 0;
  private point: [number, number] | null = null;
  private busy = false;
  private wanted = false;
  private showing = false;

  constructor(private readonly host: HoverHost) {}

  /** The mouse is at (x, y), image frame. */
  move(x: number, y: number): void {
    if (!this.host.active()) return;
    this.point = [x, y];
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.run(), HOVER_DEBOUNCE_MS);
  }

  /** The mouse left, or a prompt was placed: drop any preview. */
  cancel(): void {
    window.clearTimeout(this.timer);
    this.point = null;
    if (this.showing) {
      this.showing = false;
      this.host.show(null);
    }
  }

  private run(): void {
    if (this.busy) {
      this.wanted = true;
      return;
    }
    const point = this.point;
    if (!point || !this.host.active()) return;
    const prompt = withPoint(EMPTY_PROMPT, { x: point[0], y: point[1], label: 1 });
    this.busy = true;
    this.host
      .decode(prompt)
      .then((result) => {
        // Show it only if the mouse is still where it was and nothing was clicked meanwhile.
        if (this.point === point && this.host.active()) {
          this.showing = true;
          this.host.show({ result, prompt });
        }
      })
      .catch(() => undefined) // a failed preview is not worth a message; the click will report it
      .finally(() => {
        this.busy = false;
        if (this.wanted) {
          this.wanted = false;
          this.run();
        }
      });
  }
}
