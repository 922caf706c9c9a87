/**
 * Live preview under the mouse: decode a single foreground point where the mouse is, latest-wins.
 *
 * Moves are coalesced, never queued: a move only records the newest position; one decode starts at
 * most HOVER_COALESCE_MS after the first move of a burst (moves within one task become one decode),
 * and while a decode runs, positions that arrive collapse into one decode of the newest when it ends.
 * So with the mouse moving the decoder runs back to back on the freshest position, and each finished
 * preview is shown (one decode behind the cursor at most). Positions that were overtaken before being
 * decoded are counted as dropped frames (`window.__samkitHover`), as is the lag from a position's move
 * to its preview on screen.
 */
import { EMPTY_PROMPT, withPoint, type PromptState } from "./prompts";
import type { DecodeResult } from "./decoder";

/** Moves arriving this close together become one decode (a fast mouse sends one per frame). */
const HOVER_COALESCE_MS = 8;

export interface HoverHost {
  /** Whether a preview may run now (image ready, no prompt placed, preview switched on). */
  active(): boolean;
  decode(prompt: PromptState): Promise<DecodeResult>;
  /** A preview for `prompt` is ready (null: remove the preview). */
  show(preview: { result: DecodeResult; prompt: PromptState } | null): void;
}

/** What the hover preview did since the page opened (read by tests and the benchmark). */
export interface HoverStats {
  /** Mouse positions received while previews were active. */
  positions: number;
  /** Positions decoded (each decode is of the newest position at its start). */
  decoded: number;
  /** Positions overtaken by a newer one before their decode could start: never decoded. */
  dropped: number;
  /** Previews drawn. */
  shown: number;
  /** Per preview drawn: ms from its position's mouse move to the preview on screen. */
  lagMs: number[];
  /** The position (image frame) of the latest decode started. */
  last: [number, number] | null;
}

declare global {
  interface Window {
    __samkitHover?: HoverStats;
  }
}

export class HoverPreview {
  private timer = 0;
  private point: [number, number] | null = null;
  private pointAt = 0;
  private pending = false; // a position arrived that no decode has taken yet
  private busy = false;
  private showing = false;
  readonly stats: HoverStats = { positions: 0, decoded: 0, dropped: 0, shown: 0, lagMs: [], last: null };

  constructor(private readonly host: HoverHost) {
    window.__samkitHover = this.stats;
  }

  /** The mouse is at (x, y), image frame. */
  move(x: number, y: number): void {
    if (!this.host.active()) return;
    this.stats.positions++;
    if (this.pending) this.stats.dropped++; // the previous position was never decoded
    this.point = [x, y];
    this.pointAt = performance.now();
    this.pending = true;
    if (!this.busy && !this.timer) this.timer = window.setTimeout(() => this.run(), HOVER_COALESCE_MS);
  }

  /** The mouse left, or a prompt was placed: drop any preview. */
  cancel(): void {
    window.clearTimeout(this.timer);
    this.timer = 0;
    this.point = null;
    this.pending = false;
    if (this.showing) {
      this.showing = false;
      this.host.show(null);
    }
  }

  private run(): void {
    this.timer = 0;
    const point = this.point;
    if (this.busy || !this.pending || !point || !this.host.active()) return;
    this.pending = false;
    const movedAt = this.pointAt;
    const prompt = withPoint(EMPTY_PROMPT, { x: point[0], y: point[1], label: 1 });
    this.busy = true;
    this.stats.decoded++;
    this.stats.last = point;
    this.host
      .decode(prompt)
      .then((result) => {
        // The newest finished preview is shown even if the mouse moved on (a newer decode follows),
        // unless the preview was cancelled (mouse left, prompt placed) meanwhile.
        if (this.point !== null && this.host.active()) {
          this.showing = true;
          this.host.show({ result, prompt });
          this.stats.shown++;
          this.stats.lagMs.push(performance.now() - movedAt);
        }
      })
      .catch(() => undefined) // a failed preview is not worth a message; the click will report it
      .finally(() => {
        this.busy = false;
        if (this.pending) this.run();
      });
  }
}
