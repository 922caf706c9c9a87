/**
 * Review mode (stage 3): one sampled automatic mask at a time over its image; Accept (A) or Reject (R)
 * records the verdict, and the panel shows the rejection rate so far. An empty queue is refilled by
 * sampling more masks the server has not queued before.
 */
import { api } from "./api";
import type { EngineApi, ReviewQueue } from "./engineapi";
import type { PageUi } from "./enginepanel";
import { renderRate, type EnginePanel } from "./enginepanel";
import { EMPTY_PROMPT } from "./prompts";
import { binaryCanvas, type Stage } from "./render";
import { decodeRle } from "./rle";

const SAMPLE_SIZE = 20;
const REVIEW_RGB: [number, number, number] = [255, 64, 160];

export class ReviewMode {
  private queue: ReviewQueue["items"] = [];
  private shown: { canvas: HTMLCanvasElement } | null = null;
  private busy = false;

  constructor(private readonly eng: EngineApi, private readonly stage: Stage, private readonly panel: EnginePanel, private readonly ui: PageUi) {
    panel.reviewAccept.addEventListener("click", () => void this.decide("accept"));
    panel.reviewReject.addEventListener("click", () => void this.decide("reject"));
  }

  async start(): Promise<void> {
    let q = await this.eng.review();
    if (!q.items.length) q = await this.eng.sample(SAMPLE_SIZE);
    this.queue = q.items;
    renderRate(this.panel, q.stats);
    await this.show();
  }

  key(e: KeyboardEvent): boolean {
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    const k = e.key.toLowerCase();
    if (k === "a" || e.key === "Enter") void this.decide("accept");
    else if (k === "r" || e.key === "Delete") void this.decide("reject");
    else if (k === "f") (this.stage.resetView(), this.redraw());
    else return false;
    return true;
  }

  redraw(): void {
    this.stage.layout();
    this.stage.draw({ objects: this.shown ? [{ canvas: this.shown.canvas, selected: true, visible: true }] : [],
      currentMask: null, preview: false, prompt: EMPTY_PROMPT, dragBox: null });
  }

  private async show(): Promise<void> {
    const item = this.queue[0];
    const body = document.body.dataset;
    if (!item) {
      this.shown = null;
      body.reviewMask = "none";
      this.panel.image.textContent = "Nothing left to review: run `samkit engine auto` for more automatic masks.";
      this.panel.reviewAccept.disabled = this.panel.reviewReject.disabled = true;
      this.ui.status("The review queue is empty.");
      this.redraw();
      return;
    }
    const { mask, image } = item;
    $placeholder().hidden = true;
    const img = new Image();
    img.src = api.imageFileUrl(image.annotator_image_id);
    await img.decode();
    const hw: [number, number] = [image.height, image.width];
    this.stage.setImage(img, hw);
    this.shown = { canvas: binaryCanvas(decodeRle(mask.segmentation), hw, REVIEW_RGB, 130) };
    this.redraw();
    const iou = mask.predicted_iou === null ? "" : ` · predicted IoU ${mask.predicted_iou.toFixed(2)}`;
    const stab = mask.stability === null ? "" : ` · stability ${mask.stability.toFixed(2)}`;
    this.panel.image.textContent = `${image.path} · mask #${mask.id} (${mask.area.toLocaleString()} px${iou}${stab}) · ${this.queue.length} in the queue`;
    this.panel.reviewAccept.disabled = this.panel.reviewReject.disabled = false;
    body.reviewMask = String(mask.id);
    this.ui.status("A accepts the mask, R rejects it.");
  }

  private async decide(verdict: "accept" | "reject"): Promise<void> {
    const item = this.queue[0];
    if (!item || this.busy) return;
    this.busy = true;
    try {
      const stats = await this.eng.verdict(item.mask.id, verdict);
      renderRate(this.panel, stats);
      this.queue.shift();
      if (!this.queue.length) this.queue = (await this.eng.sample(SAMPLE_SIZE)).items;
      await this.show();
    } catch (e) {
      this.ui.status(e instanceof Error ? e.message : String(e), true);
    } finally {
      this.busy = false;
    }
  }
}

const $placeholder = () => document.getElementById("placeholder") as HTMLElement;
