/**
 * Following a video's propagation: the progress bar and line in the panel, and polling the server
 * (GET .../propagate) while it runs, reporting each newly tracked frame so the timeline and the
 * frame shown can follow. `document.body.dataset.propagation` mirrors the state (for tests).
 */
import { videoApi, type PropagationStatus } from "./videoapi";
import { progressText } from "./videostate";

const POLL_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProgressHooks {
  /** Any new status (redraw buttons). */
  changed(status: PropagationStatus): void;
  /** Frame `t` was just tracked (its masks are stored). */
  tracked(t: number): void;
  /** The propagation ended (done, cancelled or failed). */
  ended(status: PropagationStatus): void;
}

export class PropagationProgress {
  status: PropagationStatus | null = null;
  private polling = false;

  constructor(private readonly fill: HTMLElement, private readonly label: HTMLElement, private readonly hooks: ProgressHooks) {}

  get running(): boolean {
    return this.status?.state === "running";
  }

  show(status: PropagationStatus | null): void {
    this.status = status;
    this.fill.style.width = `${Math.round((status?.progress ?? 0) * 100)}%`;
    this.label.textContent = status ? progressText(status) : "";
    if (status) document.body.dataset.propagation = status.state;
    else delete document.body.dataset.propagation;
    if (status) this.hooks.changed(status);
  }

  /** Poll video `id` until its propagation ends or `current()` turns false (another video opened). */
  async follow(id: string, current: () => boolean): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    let done = -1;
    try {
      while (current()) {
        const st = await videoApi.propagation(id);
        if (!current()) return;
        this.show(st);
        if (st.frames_done !== done) {
          done = st.frames_done;
          if (st.current_frame_idx !== null) this.hooks.tracked(st.current_frame_idx);
        }
        if (st.state !== "running") {
          this.hooks.ended(st);
          return;
        }
        await sleep(POLL_MS);
      }
    } finally {
      this.polling = false;
    }
  }

  async cancel(id: string): Promise<void> {
    if (this.running) this.show(await videoApi.cancel(id));
  }
}
