/**
 * The video mode: one video open at a time. The frame view (the shared Stage) shows the frame the
 * timeline points at with every object's stored mask; clicks and boxes prompt the selected object
 * (or a new one) on that frame and the server's SAM 2 video predictor answers the frame's masks;
 * "Propagate" tracks the objects through the video in the background while the page polls progress;
 * "Export DAVIS masks" downloads the zip. All masks live on the server (one label map per frame), so
 * scrubbing fetches the frame (JPEG, cached here) and its masks (COCO RLE).
 *
 * Requests that change the session go one at a time (in order); clicks are latest-wins: clicks made
 * while a request runs are sent as one prompt when it ends (the whole prompt, never a diff).
 */
import type { ModelInfo } from "./api";
import type { Hw } from "./coords";
import { EMPTY_PROMPT, isEmpty, withBox, withPoint, type BoxPrompt } from "./prompts";
import { binaryCanvas, type Stage } from "./render";
import { decodeRle } from "./rle";
import { videoApi, type Direction, type FrameMasks, type VideoRecord, type VideoSession } from "./videoapi";
import type { VideoAction } from "./videokeys";
import { PropagationProgress } from "./videoprogress";
import { clampFrame, frameCoverage, FramePrompts, Lru, progressText, promptBody, withoutLast } from "./videostate";
import { drawTimelineStrip, renderVideoObjects, videoObjectColor } from "./videoview";

/** Longest side of the frames fetched for display; prompts and masks stay in video pixels. */
const FRAME_MAX_SIDE = 1280;

export interface VideoUi {
  status(text: string, error?: boolean): void;
  stageBusy(fraction: number | null, label?: string): void;
  slider: HTMLInputElement;
  frameLabel: HTMLElement;
  strip: HTMLCanvasElement;
  objectList: HTMLElement;
  objectCount: HTMLElement;
  progressFill: HTMLElement;
  progressLabel: HTMLElement;
  direction: HTMLSelectElement;
  buttons: { propagate: HTMLButtonElement; cancel: HTMLButtonElement; newObject: HTMLButtonElement;
    clear: HTMLButtonElement; exportDavis: HTMLButtonElement };
  /** Show or hide the help panel, and whether it is open. */
  toggleHelp(): void;
  helpOpen(): boolean;
  /** The list of videos changed on the server (object counts). */
  changed(): void;
}

interface Shown {
  frame: number;
  masks: FrameMasks;
  canvases: Map<number, HTMLCanvasElement>;
}

export class VideoMode {
  video: VideoRecord | null = null;
  frame = 0;
  selected: number | null = null;
  showObjects = true;
  promptsAnswered = 0;
  private session: VideoSession | null = null;
  private readonly prompts = new FramePrompts();
  private readonly images = new Lru<number, HTMLImageElement>(64);
  private shown: Shown | null = null;
  private dragBox: BoxPrompt | null = null;
  private token = 0;
  private frameBusy = false;
  private frameWanted = false;
  private promptBusy = false;
  private promptWanted = false;
  private chain: Promise<unknown> = Promise.resolve();

  private readonly progress: PropagationProgress;

  constructor(private readonly model: ModelInfo, private readonly stage: Stage, private readonly ui: VideoUi) {
    this.progress = new PropagationProgress(ui.progressFill, ui.progressLabel, {
      changed: () => this.refreshButtons(),
      tracked: (t) => {
        if (this.session && !this.session.masked_frames.includes(t)) this.session.masked_frames.push(t);
        this.drawStrip();
        if (t === this.frame) this.goTo(this.frame); // the frame shown was just tracked: show its masks
      },
      ended: (st) => {
        void this.refreshSession().then(() => {
          this.goTo(this.frame);
          this.ui.status(progressText(st), st.state === "error");
        });
      },
    });
  }

  get active(): boolean {
    return this.video !== null;
  }

  private get canTrack(): boolean {
    return this.model.family === "sam2";
  }

  private get hw(): Hw {
    return [this.video?.height ?? 1, this.video?.width ?? 1];
  }

  // ---- opening --------------------------------------------------------------------------------

  async open(record: VideoRecord): Promise<void> {
    const token = ++this.token;
    this.video = record;
    this.frame = 0;
    this.selected = null;
    this.shown = null;
    this.prompts.clear();
    this.images.clear();
    this.session = null;
    this.progress.show(null);
    document.body.dataset.mode = "video";
    delete document.body.dataset.videoFrame;
    this.ui.slider.max = String(Math.max(0, record.num_frames - 1));
    this.ui.slider.value = "0";
    this.ui.stageBusy(0, "Opening the video…");
    try {
      const [session, first] = await Promise.all([videoApi.session(record.id), this.image(0)]);
      if (token !== this.token) return;
      this.session = session;
      this.stage.setImage(first, this.hw);
      this.ui.stageBusy(null);
      this.progress.show(session.propagation);
      this.refreshPanels();
      this.goTo(0);
      if (session.propagation.state === "running") this.follow(token);
      this.ui.status(this.canTrack
        ? `${record.name}: click an object to track it (right click = background), then Propagate.`
        : `${record.name}: video mode needs a SAM 2 model to track; frames can be viewed.`, !this.canTrack);
    } catch (e) {
      if (token !== this.token) return;
      this.ui.stageBusy(null);
      this.ui.status(e instanceof Error ? e.message : String(e), true);
    }
  }

  close(): void {
    this.token++;
    this.video = null;
    this.session = null;
    this.shown = null;
    this.prompts.clear();
    this.images.clear();
    document.body.dataset.mode = "image";
    delete document.body.dataset.videoFrame;
  }

  // ---- frames -------------------------------------------------------------------------------

  private image(frame: number): Promise<HTMLImageElement> {
    const cached = this.images.get(frame);
    if (cached) return Promise.resolve(cached);
    const img = new Image();
    img.src = videoApi.frameUrl(this.video!.id, frame, FRAME_MAX_SIDE);
    return img.decode().then(() => {
      this.images.set(frame, img);
      return img;
    });
  }

  /** Show frame `t` (clamped): the slider moves at once, the picture and masks follow (latest wins). */
  goTo(t: number): void {
    if (!this.video) return;
    this.frame = clampFrame(t, this.video.num_frames);
    this.ui.slider.value = String(this.frame);
    this.ui.frameLabel.textContent = `frame ${this.frame} / ${this.video.num_frames - 1}`;
    this.drawStrip();
    this.frameWanted = true;
    if (!this.frameBusy) void this.pumpFrames();
  }

  private async pumpFrames(): Promise<void> {
    this.frameBusy = true;
    while (this.frameWanted && this.video) {
      this.frameWanted = false;
      const token = this.token;
      const t = this.frame;
      const id = this.video.id;
      try {
        const [img, masks] = await Promise.all([this.image(t), videoApi.masks(id, t)]);
        if (token !== this.token) break;
        this.stage.replaceImage(img);
        this.showMasks(masks);
      } catch (e) {
        if (token === this.token) this.ui.status(e instanceof Error ? e.message : String(e), true);
      }
    }
    this.frameBusy = false;
  }

  /** Draw a frame's masks (when it is the frame shown) and take its prompts as the server has them. */
  private showMasks(masks: FrameMasks): void {
    if (masks.frame_idx !== this.frame) return;
    const hw: Hw = [masks.height, masks.width];
    const canvases = new Map<number, HTMLCanvasElement>();
    for (const o of masks.objects) {
      if (o.area > 0) canvases.set(o.obj_id, binaryCanvas(decodeRle(o.segmentation), hw, videoObjectColor(o.obj_id)));
    }
    if (!this.promptBusy) this.prompts.load(masks.frame_idx, masks.prompts, masks.objects.map((o) => o.obj_id));
    this.shown = { frame: masks.frame_idx, masks, canvases };
    this.draw();
    this.refreshPanels();
    document.body.dataset.videoFrame = String(masks.frame_idx);
  }

  // ---- prompts ------------------------------------------------------------------------------

  /** Run session-changing requests one at a time, in the order asked. */
  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job, job);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private mayEdit(): boolean {
    if (!this.video) return false;
    if (!this.canTrack) {
      this.ui.status("Video mode needs a SAM 2 model to track objects (samkit serve --model sam2.1_hiera_t).", true);
      return false;
    }
    if (this.progress.running) {
      this.ui.status("The video is being propagated: wait for it to finish or cancel it.", true);
      return false;
    }
    return true;
  }

  click(x: number, y: number, label: 0 | 1): void {
    if (!this.mayEdit()) return;
    this.prompts.set(this.selected, this.frame, withPoint(this.prompts.get(this.selected, this.frame), { x, y, label }));
    this.promptChanged();
  }

  box(box: BoxPrompt): void {
    if (!this.mayEdit()) return;
    this.prompts.set(this.selected, this.frame, withBox(this.prompts.get(this.selected, this.frame), box));
    this.promptChanged();
  }

  dragging(box: BoxPrompt | null): void {
    this.dragBox = box;
    this.draw();
  }

  private promptChanged(): void {
    this.draw(); // the new dot shows at once; the masks follow
    this.promptWanted = true;
    if (!this.promptBusy) void this.pumpPrompts();
  }

  /** Send the selected object's prompt on the current frame until it stops changing (latest wins). */
  private async pumpPrompts(): Promise<void> {
    this.promptBusy = true;
    while (this.promptWanted && this.video) {
      this.promptWanted = false;
      const id = this.video.id;
      const token = this.token;
      const frame = this.frame;
      const obj = this.selected;
      const prompt = this.prompts.get(obj, frame);
      if (isEmpty(prompt)) continue;
      try {
        const res = await this.serial(() => videoApi.prompt(id, frame, promptBody(obj, prompt)));
        if (token !== this.token) break;
        if (obj === null && res.obj_id !== null) {
          this.prompts.adopt(frame, res.obj_id);
          if (this.selected === null) this.selected = res.obj_id;
        }
        this.ui.status(`Object ${res.obj_id} on frame ${frame}: ${areaOf(res, res.obj_id).toLocaleString()} px. ` +
          "Click more to refine, N for a new object, T to propagate.");
        if (!this.promptWanted && frame === this.frame) this.showMasks(res);
        await this.refreshSession();
        this.promptsAnswered++; // the answer is drawn and the panels show it
      } catch (e) {
        this.ui.status(e instanceof Error ? e.message : String(e), true);
      }
    }
    this.promptBusy = false;
  }

  newObject(): void {
    this.selected = null;
    this.prompts.set(null, this.frame, EMPTY_PROMPT);
    this.refreshPanels();
    this.draw();
    this.ui.status("New object: click it on the frame.");
  }

  select(objId: number): void {
    this.selected = objId;
    this.refreshPanels();
    this.draw();
  }

  undo(): void {
    if (this.selected === null || !this.mayEdit()) return;
    const p = this.prompts.get(this.selected, this.frame);
    if (isEmpty(p)) return;
    const next = withoutLast(p);
    if (isEmpty(next)) {
      this.clear();
      return;
    }
    this.prompts.set(this.selected, this.frame, next);
    this.promptChanged();
  }

  /** Remove the selected object's prompts on this frame (its mask here becomes a tracked one). */
  clear(): void {
    if (this.selected === null || !this.mayEdit()) return;
    const { id } = this.video!;
    const frame = this.frame;
    const obj = this.selected;
    this.prompts.set(obj, frame, EMPTY_PROMPT);
    this.draw();
    void this.serial(async () => {
      const res = await videoApi.clearPrompts(id, frame, obj);
      this.showMasks(res);
      await this.refreshSession();
      this.ui.status(`Cleared object ${obj}'s prompts on frame ${frame}.`);
    }).catch((e) => this.ui.status(e instanceof Error ? e.message : String(e), true));
  }

  remove(objId: number): void {
    if (!this.mayEdit()) return;
    const { id } = this.video!;
    void this.serial(async () => {
      this.session = await videoApi.removeObject(id, objId);
      this.prompts.forgetObject(objId);
      if (this.selected === objId) this.selected = null;
      this.refreshPanels();
      this.goTo(this.frame); // its pixels are gone from every frame
      this.ui.changed();
      this.ui.status(`Removed object ${objId}.`);
    }).catch((e) => this.ui.status(e instanceof Error ? e.message : String(e), true));
  }

  removeSelected(): void {
    if (this.selected !== null) this.remove(this.selected);
  }

  // ---- propagation --------------------------------------------------------------------------

  propagate(): void {
    if (!this.mayEdit()) return;
    const { id } = this.video!;
    const direction = this.ui.direction.value as Direction;
    const start = direction === "both" ? null : this.frame;
    const token = this.token;
    void this.serial(async () => {
      this.progress.show(await videoApi.propagate(id, direction, start));
      this.follow(token);
    }).catch((e) => this.ui.status(e instanceof Error ? e.message : String(e), true));
  }

  cancel(): void {
    if (this.video) void this.progress.cancel(this.video.id).catch((e) => this.ui.status(e instanceof Error ? e.message : String(e), true));
  }

  /** Follow the open video's propagation until it ends (or another video is opened). */
  private follow(token: number): void {
    const id = this.video!.id;
    void this.progress.follow(id, () => token === this.token)
      .catch((e) => this.ui.status(e instanceof Error ? e.message : String(e), true));
  }

  exportDavis(): void {
    if (!this.video) return;
    const href = videoApi.exportUrl(this.video.id);
    void this.serial(async () => {
      const a = document.createElement("a");
      a.href = href;
      a.download = "";
      document.body.append(a);
      a.click();
      a.remove();
    });
  }

  // ---- keys ---------------------------------------------------------------------------------

  run(action: VideoAction): void {
    const step: Partial<Record<VideoAction, number>> = { prev: -1, next: 1, back10: -10, forward10: 10 };
    if (action in step) return this.goTo(this.frame + step[action]!);
    switch (action) {
      case "first": return this.goTo(0);
      case "last": return this.goTo(Infinity);
      case "newObject": return this.newObject();
      case "undo": return this.undo();
      case "clear": return this.ui.helpOpen() ? this.ui.toggleHelp() : this.clear();
      case "delete": return this.removeSelected();
      case "propagate": return this.propagate();
      case "hideObjects":
        this.showObjects = !this.showObjects;
        return this.draw();
      case "fit":
        this.stage.resetView();
        return this.draw();
      case "help": return this.ui.toggleHelp();
    }
  }

  // ---- drawing and panels -------------------------------------------------------------------

  private async refreshSession(): Promise<void> {
    if (!this.video) return;
    const token = this.token;
    const session = await videoApi.session(this.video.id);
    if (token !== this.token) return;
    this.session = session;
    this.progress.show(session.propagation);
    this.refreshPanels();
    this.ui.changed();
  }

  draw(): void {
    if (!this.video) return;
    const shown = this.shown !== null && this.shown.frame === this.frame ? this.shown : null;
    this.stage.draw({
      objects: shown
        ? [...shown.canvases].map(([id, canvas]) => ({ canvas, selected: id === this.selected, visible: this.showObjects }))
        : [],
      currentMask: null,
      preview: false,
      prompt: this.prompts.get(this.selected, this.frame),
      dragBox: this.dragBox,
    });
  }

  private drawStrip(): void {
    if (!this.video) return;
    const s = this.session;
    drawTimelineStrip(this.ui.strip, frameCoverage(this.video.num_frames, s?.masked_frames ?? [], s?.prompted_frames ?? []),
      this.frame);
  }

  private refreshPanels(): void {
    const objects = this.session?.objects ?? [];
    const shown = this.shown?.frame === this.frame ? this.shown : null;
    renderVideoObjects(this.ui.objectList, objects.map((o) => ({
      objId: o.obj_id,
      area: shown ? areaOf(shown.masks, o.obj_id) : null,
      promptedFrames: o.prompted_frames,
    })), this.selected, {
      select: (id) => this.select(id),
      remove: (id) => this.remove(id),
      goTo: (t) => this.goTo(t),
    });
    this.ui.objectCount.textContent = objects.length ? `(${objects.length})` : "";
    this.drawStrip();
    this.refreshButtons();
  }

  private refreshButtons(): void {
    const b = this.ui.buttons;
    const running = this.progress.running;
    b.propagate.disabled = !this.canTrack || running || !(this.session?.objects.length);
    b.cancel.disabled = !running;
    b.newObject.disabled = !this.canTrack || running;
    b.clear.disabled = !this.canTrack || running || this.selected === null;
    b.exportDavis.disabled = !this.video;
  }

  /** Read-only view for tests and the console. */
  snapshot(): object {
    const shown = this.shown;
    return {
      videoId: this.video?.id ?? null,
      frame: this.frame,
      shownFrame: shown?.frame ?? null,
      numFrames: this.video?.num_frames ?? 0,
      selected: this.selected,
      objects: this.session?.objects.map((o) => o.obj_id) ?? [],
      areas: shown ? Object.fromEntries(shown.masks.objects.map((o) => [o.obj_id, o.area])) : {},
      source: shown?.masks.source ?? null,
      prompt: this.prompts.get(this.selected, this.frame),
      promptsAnswered: this.promptsAnswered,
      maskedFrames: this.session?.masked_frames ?? [],
      propagation: this.progress.status,
    };
  }
}

function areaOf(masks: FrameMasks, objId: number | null): number {
  return masks.objects.find((o) => o.obj_id === objId)?.area ?? 0;
}
