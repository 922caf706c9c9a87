/**
 * The annotation session for one open image: prompts -> decoder -> mask on the canvas, the choice
 * among SAM's three masks for a single click, the hover preview, accepting objects (COCO RLE) and
 * editing the object list. Everything here is in the image frame; the Stage maps it to the screen.
 */
import { api, ApiError, type Annotation, type ImageRecord, type ModelInfo } from "./api";
import { modelScale, outputHw, type Hw } from "./coords";
import type { DecodeResult, PromptDecoder } from "./decoder";
import { renderObjectList } from "./objects";
import { EMPTY_PROMPT, isAmbiguous, PromptHistory, withBox, withPoint, type BoxPrompt, type PromptState } from "./prompts";
// A prompt may carry a text (decoded on the server): a text alone is a prompt too.
import { isEmptyWithText as isEmpty, isRefusedText, keepText, promptText, withText } from "./textprompt";
import { renderMaskChoices } from "./choices";
import { HoverPreview } from "./hover";
import { MaskUpscaler, upscaleLogits, upscaleLogitsWholeImage } from "./upscale";
import { mergeAnnotations, SaveQueue, syncedList, type SyncedList } from "./savequeue";
import { binaryCanvas, CURRENT_MASK_RGB, MaskPainter, objectColor, type Rgb, Stage } from "./render";
import { decodeRle, encodeRle, maskAreaBbox } from "./rle";
import type { DecodeKind, DecodeSample, SamkitStats } from "./stats";

/** Longest side of the masks drawn for clicks and hover; accepting upscales to the full size. */
const PREVIEW_MAX_SIDE = 1024;

interface Shown {
  result: DecodeResult;
  prompt: PromptState;
}

export interface AnnotatorUi {
  status(text: string, error?: boolean): void;
  objectList: HTMLElement;
  objectCount: HTMLElement;
  maskChoices: HTMLElement;
  category: HTMLInputElement;
  latency: HTMLElement;
  buttons: { accept: HTMLButtonElement; undo: HTMLButtonElement; redo: HTMLButtonElement; clear: HTMLButtonElement };
  /** Called after the object list changed on the server (so the image list can update its counts). */
  saved(image: ImageRecord, count: number): void;
  /** Optional: store each accepted object here instead of saving the image's list (the data engine, engine.ts). */
  stored?(image: ImageRecord, ann: Annotation): Promise<void>;
  /** Optional: the present prompt's text, after every refresh (the text field, textprompt.ts). */
  promptText?(text: string): void;
}

export class Annotator {
  readonly history = new PromptHistory();
  /** Accepted objects of the open image; each keeps the colour it was first drawn with. */
  objects: { ann: Annotation; canvas: HTMLCanvasElement; color: Rgb }[] = [];
  private nextColor = 0;
  selected: number | null = null;
  showObjects = true;
  hoverEnabled = true;

  private image: ImageRecord | null = null;
  private origHw: Hw = [1, 1];
  private scale = 1;
  private shown: Shown | null = null;
  private hoverShown: Shown | null = null;
  private chosen: number | null = null; // user's pick among masks 1..3 (null: highest IoU)
  private dragBox: BoxPrompt | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly saves = new SaveQueue();
  /** Per image: the version of its saved list this page last read or wrote, and the ids in it. */
  private readonly synced = new Map<string, { version: number | null; list: SyncedList }>();
  private readonly samples = new WeakMap<DecodeResult, DecodeSample>();
  private mainBusy = false;
  private mainWanted = false;

  constructor(
    private readonly model: ModelInfo,
    private readonly decoder: PromptDecoder,
    private readonly stage: Stage,
    private readonly ui: AnnotatorUi,
    private readonly stats: SamkitStats,
  ) {}

  get isReady(): boolean {
    return this.image !== null && this.decoder.hasEmbedding;
  }

  /** Start annotating `image` (its embedding is already in the decoder) with its saved objects. */
  open(image: ImageRecord, annotations: Annotation[], version: number | null = null): void {
    this.image = image;
    this.synced.set(image.id, { version, list: syncedList(annotations) });
    this.origHw = [image.height, image.width];
    this.scale = modelScale(this.origHw, this.model.img_size);
    this.history.reset();
    this.shown = this.hoverShown = null;
    this.chosen = null;
    this.selected = null;
    this.objects = annotations.map((ann, i) => this.withCanvas(ann, objectColor(i)));
    this.nextColor = annotations.length;
    this.refresh();
  }

  close(): void {
    this.image = null;
    this.objects = [];
    this.history.reset();
    this.shown = this.hoverShown = null;
    this.refresh();
  }

  /** Serialise decoder runs: onnxruntime-web sessions must not run concurrently. */
  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async decode(prompt: PromptState, kind: DecodeKind): Promise<DecodeResult> {
    const result = await this.exclusive(() => this.decoder.run(prompt, this.scale, this.origHw));
    const points = prompt.points.length + (prompt.box ? 2 : 1);
    const sample: DecodeSample = { kind, ms: result.ms, points, lowHw: result.lowHw };
    this.stats.decodes.push(sample);
    this.samples.set(result, sample);
    this.ui.latency.textContent = this.decoder.info.where === "server"
      ? `decode ${result.ms.toFixed(1)} ms · on the server`
      : `decode ${result.ms.toFixed(1)} ms · ${this.stats.threads} thread${this.stats.threads > 1 ? "s" : ""}`;
    return result;
  }

  // ---- prompts --------------------------------------------------------------------------------

  click(x: number, y: number, label: 0 | 1): void {
    this.edit(keepText(this.history.present, withPoint(this.history.present, { x, y, label })));
  }

  box(box: BoxPrompt): void {
    this.edit(keepText(this.history.present, withBox(this.history.present, box)));
  }

  /** Ask for `text` with the present clicks/box ("" drops it); decoded on the server (textprompt.ts). */
  setText(text: string): void {
    const next = withText(this.history.present, text);
    if (promptText(next) !== promptText(this.history.present)) this.edit(next);
  }

  dragging(box: BoxPrompt | null): void {
    this.dragBox = box;
    this.draw();
  }

  undo(): void {
    if (this.history.undo()) this.promptChanged();
  }

  redo(): void {
    if (this.history.redo()) this.promptChanged();
  }

  clear(): void {
    if (!isEmpty(this.history.present)) this.edit(EMPTY_PROMPT);
    this.selected = null;
    this.refresh();
  }

  pickMask(k: 1 | 2 | 3): void {
    if (!this.shown || !isAmbiguous(this.shown.prompt) || this.shown.result.numMasks < 4) return;
    this.chosen = k;
    this.refresh();
  }

  private edit(next: PromptState): void {
    if (!this.isReady) return;
    this.history.push(next);
    this.promptChanged();
  }

  private promptChanged(): void {
    this.chosen = null;
    this.hoverPreview.cancel();
    this.hoverShown = null;
    if (isEmpty(this.history.present)) this.shown = null;
    this.refresh(); // the new dot (or its removal) shows at once; the mask follows
    this.mainWanted = true;
    if (!this.mainBusy) void this.pumpMain();
  }

  /**
   * Decode the present prompt, latest-wins: prompts that change while a decode runs are coalesced
   * into one more decode of whatever is present when it finishes (no queue of stale work).
   */
  private async pumpMain(): Promise<void> {
    this.mainBusy = true;
    while (this.mainWanted) {
      this.mainWanted = false;
      const prompt = this.history.present;
      if (isEmpty(prompt)) continue;
      try {
        const result = await this.decode(prompt, "click");
        if (this.history.present === prompt) {
          const t0 = performance.now();
          this.shown = { result, prompt };
          this.refresh();
          const sample = this.samples.get(result);
          if (sample) {
            sample.drawMs = performance.now() - t0;
            sample.drawParts = this.drawParts;
          }
          this.ui.status(describe(prompt, result, this.maskIndex(this.shown)));
        }
      } catch (e) {
        if (isRefusedText(prompt, e)) {
          // An unknown word: say why and take the text back, so that later clicks still decode.
          this.ui.status((e as Error).message, true);
          if (this.history.present === prompt && this.history.undo()) this.refresh();
        } else this.ui.status(`decoder failed: ${e}`, true);
      }
    }
    this.mainBusy = false;
  }

  /** Which of the result's masks is shown: user's pick or best IoU for a single click, else 0. */
  private maskIndex({ result, prompt }: Shown): number {
    if (result.numMasks < 4 || !isAmbiguous(prompt)) return 0;
    if (this.chosen !== null) return this.chosen;
    let best = 1;
    for (let k = 2; k <= 3; k++) if (result.iou[k] > result.iou[best]) best = k;
    return best;
  }

  // ---- hover preview ------------------------------------------------------------------------

  private readonly hoverPreview = new HoverPreview({
    active: () => this.hoverEnabled && this.isReady && isEmpty(this.history.present),
    decode: (prompt) => this.decode(prompt, "hover"),
    show: (preview) => {
      this.hoverShown = preview;
      this.draw();
    },
  });

  hover(x: number, y: number): void {
    this.hoverPreview.move(x, y);
  }

  leave(): void {
    this.hoverPreview.cancel();
  }

  // ---- objects ------------------------------------------------------------------------------

  /** Decode the current prompt at full image size and store the mask as a new object. */
  async accept(): Promise<void> {
    const image = this.image;
    const prompt = this.history.present;
    if (!image || !this.isReady) return;
    if (isEmpty(prompt)) {
      this.ui.status("Nothing to accept: click the object first.");
      return;
    }
    // The shown decode is of this prompt unless one is still running: then decode it now.
    const shown = this.shown;
    const result = shown !== null && shown.prompt === prompt ? shown.result : await this.decode(prompt, "accept");
    if (this.history.present !== prompt || this.image !== image) return; // the user moved on meanwhile
    const index = this.maskIndex({ result, prompt }); // same rule, same IoUs as the mask on screen
    const [h, w] = this.origHw;
    const logits = this.upscale(result, index, this.origHw); // = the model's masks output at full size
    const mask = new Uint8Array(h * w);
    const threshold = this.model.mask_threshold;
    for (let i = 0; i < mask.length; i++) mask[i] = logits[i] > threshold ? 1 : 0;
    const { area, bbox } = maskAreaBbox(mask, h, w);
    if (area === 0) {
      this.ui.status("The mask is empty: add a point on the object before accepting.", true);
      return;
    }
    const category = this.ui.category.value.trim() || "object";
    const ann: Annotation = {
      category,
      segmentation: encodeRle(mask, h, w),
      bbox,
      area,
      predicted_iou: Number(result.iou[index].toFixed(4)),
    };
    const color = objectColor(this.nextColor++);
    this.objects.push({ ann, canvas: binaryCanvas(mask, this.origHw, color), color });
    this.history.reset();
    this.shown = null;
    this.selected = null;
    this.refresh();
    if (this.ui.stored) return this.ui.stored(image, ann);
    await this.save(`Accepted “${category}” (${area.toLocaleString()} px).`);
  }

  remove(index: number): void {
    if (index < 0 || index >= this.objects.length) return;
    const [gone] = this.objects.splice(index, 1);
    this.selected = null;
    this.refresh();
    void this.save(`Deleted “${gone.ann.category}”.`);
  }

  removeSelected(): void {
    if (this.selected !== null) this.remove(this.selected);
  }

  relabel(index: number, category: string): void {
    const o = this.objects[index];
    if (!o || o.ann.category === category) return;
    o.ann = { ...o.ann, category };
    this.refresh();
    void this.save(`Relabelled object ${index + 1} as “${category}”.`);
  }

  select(index: number | null): void {
    if (this.selected === index) return;
    this.selected = index;
    // Only restyle the rows: re-rendering the list would replace the text field being focused.
    this.ui.objectList.querySelectorAll<HTMLElement>("li.object").forEach((li) => {
      li.classList.toggle("selected", li.dataset.index === String(index));
    });
    this.draw();
  }

  /** Resolves when every edit so far is on the server (exports wait for this). */
  flush(): Promise<unknown> {
    return this.saves.flush();
  }

  /** True while a save is in flight or the last one failed (objects exist only in this page). */
  get hasUnsavedChanges(): boolean {
    return this.saves.hasUnsaved;
  }

  /**
   * PUT the whole object list of the open image; ids the server assigns are taken back. If another
   * client saved the image since this page last synced (409), its list is read again and merged with
   * this page's edits (objects added here are added, objects deleted here are dropped, the rest is
   * theirs plus this page's edits of the same objects), shown, and saved over the new version.
   */
  private save(message: string): Promise<unknown> {
    const image = this.image!;
    const queued = this.objects.map((o) => o.ann);
    return this.saves
      .run(async () => {
        let merged = false;
        for (let attempt = 0; ; attempt++) {
          // The latest list if the image is still open (a later edit may have changed it), else the queued one.
          const snapshot = this.image?.id === image.id ? this.objects.map((o) => o.ann) : queued;
          const sync = this.synced.get(image.id) ?? { version: null, list: syncedList([]) };
          try {
            const { annotations: saved, version } = await api.saveAnnotations(image.id, snapshot, sync.version);
            this.synced.set(image.id, { version, list: syncedList(saved) });
            if (this.image?.id === image.id && saved.length === this.objects.length) {
              saved.forEach((ann, i) => {
                if (this.objects[i].ann.category === ann.category) this.objects[i].ann = ann; // now with its id
              });
              this.refresh();
            }
            this.ui.saved(image, saved.length);
            this.ui.status(message + (merged ? " Another window had saved this image: its objects were merged "
              + "with yours. Saved." : " Saved."));
            return;
          } catch (e) {
            if (!(e instanceof ApiError && e.status === 409) || attempt >= 3) throw e;
            const theirs = await api.annotations(image.id);
            const list = mergeAnnotations(theirs.annotations, snapshot, sync.list);
            this.synced.set(image.id, { version: theirs.version, list: syncedList(theirs.annotations) });
            if (this.image?.id === image.id) {
              this.objects = list.map((ann, i) => this.withCanvas(ann, this.objects.find((o) => o.ann === ann)?.color ?? objectColor(this.nextColor + i)));
              this.nextColor += list.length;
              this.selected = null;
              this.refresh();
            }
            merged = true;
          }
        }
      })
      .catch((e) => {
        this.ui.status(`${e instanceof Error ? e.message : e} — your objects are still here; edit again to retry.`, true);
      });
  }

  private withCanvas(ann: Annotation, color: Rgb): { ann: Annotation; canvas: HTMLCanvasElement; color: Rgb } {
    const mask = decodeRle(ann.segmentation);
    return { ann, canvas: binaryCanvas(mask, ann.segmentation.size, color), color };
  }

  // ---- drawing ------------------------------------------------------------------------------

  /** Redraw the overlay only (the view moved). */
  redraw(): void {
    this.draw();
  }

  /** Redraw the overlay and the side panels. */
  refresh(): void {
    this.draw();
    const t0 = performance.now();
    this.renderChoices();
    const b = this.ui.buttons;
    b.undo.disabled = !this.history.canUndo;
    b.redo.disabled = !this.history.canRedo;
    b.accept.disabled = isEmpty(this.history.present);
    b.clear.disabled = isEmpty(this.history.present);
    const categories = [...new Set(["object", ...this.objects.map((o) => o.ann.category)])];
    renderObjectList(this.ui.objectList, this.objects.map((o) => o.ann), this.objects.map((o) => o.color), this.selected, categories, {
      select: (i) => this.select(i),
      relabel: (i, c) => this.relabel(i, c),
      remove: (i) => this.remove(i),
    });
    this.ui.objectCount.textContent = this.objects.length ? `(${this.objects.length})` : "";
    this.ui.promptText?.(promptText(this.history.present));
    this.drawParts.panels = performance.now() - t0;
  }

  private maskCanvasCache: { key: unknown; index: number; canvas: HTMLCanvasElement } | null = null;
  /** The current mask's buffers, reused frame after frame (the mask is repainted in place). */
  private readonly maskUpscaler = new MaskUpscaler();
  private readonly maskPainter = new MaskPainter();
  private readonly thumbUpscaler = new MaskUpscaler(); // its own: a shared one would redo its taps per size
  private readonly thumbPainters = [new MaskPainter(), new MaskPainter(), new MaskPainter()]; // masks 1..3
  /** ms of the latest refresh: mask (upscale + threshold + paint), overlay (canvas), panels (DOM). */
  private drawParts = { mask: 0, overlay: 0, panels: 0 };

  private draw(): void {
    const t0 = performance.now();
    const shown = this.hoverShown ?? this.shown;
    let currentMask: HTMLCanvasElement | null = null;
    if (shown) {
      const index = this.maskIndex(shown);
      const c = this.maskCanvasCache;
      if (c && c.key === shown.result && c.index === index) currentMask = c.canvas;
      else {
        // No finer than the overlay's backing store: pixels beyond what is displayed are never seen.
        const shownSide = Math.max(this.stage.overlay.width, this.stage.overlay.height);
        const hw = outputHw(this.origHw, Math.min(PREVIEW_MAX_SIDE, Math.max(shownSide, 1)));
        const r = shown.result;
        const mask = this.maskUpscaler.mask(r.lowRes, index, r.lowHw, this.model.img_size, this.origHw, hw,
          this.model.mask_threshold, this.model.low_res_frame === "whole-image");
        currentMask = this.maskPainter.paint(mask, hw, CURRENT_MASK_RGB);
        this.maskCanvasCache = { key: shown.result, index, canvas: currentMask };
      }
    }
    const t1 = performance.now();
    this.stage.draw({
      objects: this.objects.map((o, i) => ({ canvas: o.canvas, selected: i === this.selected, visible: this.showObjects })),
      currentMask,
      preview: shown === this.hoverShown && shown !== null,
      prompt: this.history.present,
      dragBox: this.dragBox,
    });
    this.drawParts = { mask: t1 - t0, overlay: performance.now() - t1, panels: 0 };
  }

  private renderChoices(): void {
    const shown = this.shown;
    const offer = shown !== null && isAmbiguous(shown.prompt) && shown.result.numMasks >= 4;
    const thumbHw = outputHw(this.origHw, 120);
    renderMaskChoices(this.ui.maskChoices, offer ? shown.result : null, offer ? this.maskIndex(shown) : 0,
      (k) => this.thumbPainters[k - 1].paint(this.thumbUpscaler.mask(shown!.result.lowRes, k, shown!.result.lowHw,
        this.model.img_size, this.origHw, thumbHw, this.model.mask_threshold, this.model.low_res_frame === "whole-image"),
      thumbHw, CURRENT_MASK_RGB),
      (k) => this.pickMask(k));
  }

  /** Mask `index` of a decode as logits of size outHw (the model's postprocessing, for one mask). */
  private upscale(result: DecodeResult, index: number, outHw: Hw): Float32Array {
    if (this.model.low_res_frame === "whole-image") {
      return upscaleLogitsWholeImage(result.lowRes, index, result.lowHw, this.origHw, outHw); // SAM 2
    }
    return upscaleLogits(result.lowRes, index, result.lowHw, this.model.img_size, this.origHw, outHw);
  }
}

/** Status line after a decode: what the prompt is and which mask is shown. */
function describe(prompt: PromptState, result: DecodeResult, index: number): string {
  const fg = prompt.points.filter((p) => p.label === 1).length;
  const bg = prompt.points.length - fg;
  const parts = [];
  if (promptText(prompt)) parts.push(`“${promptText(prompt)}”`);
  if (fg) parts.push(`${fg} foreground point${fg > 1 ? "s" : ""}`);
  if (bg) parts.push(`${bg} background point${bg > 1 ? "s" : ""}`);
  if (prompt.box) parts.push("box");
  const which = isAmbiguous(prompt) ? `mask ${index} of 3` : "mask";
  return `${parts.join(" + ")}: ${which}, predicted IoU ${result.iou[index].toFixed(2)}. A accepts, Z undoes.`;
}

