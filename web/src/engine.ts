/**
 * The data engine's modes of the annotator page (`samkit engine annotate DIR`; the server marks the
 * page with data-engine and main.ts hands over here). Assisted (stage 1): the project's queue, one
 * image after another; each accepted mask is stored with the clicks and seconds it took (from the
 * first click on the object to accept). Semi-automatic (stage 2): the model's proposals are shown
 * accepted unless rejected, unlabeled regions hatched. Review (stage 3): enginereview.ts.
 * The page polls the session; when the served model's round changes it reloads decoder and embedding.
 */
import { api, ApiError, type Annotation, type ImageRecord, type ModelInfo } from "./api";
import { Annotator } from "./annotator";
import { SamDecoder, type PromptDecoder } from "./decoder";
import { engineApi, type EngineImage, type EngineMask } from "./engineapi";
import { MaskCache, overlayObjects, unlabeledFraction } from "./engineoverlay";
import { buildPanel, MODE_LABELS, renderInfo, renderMasks, type EngineMode, type PageUi } from "./enginepanel";
import { ReviewMode } from "./enginereview";
import { float16BytesToFloat32 } from "./float16";
import { bindPointer } from "./pointer";
import { isEmpty } from "./prompts";
import { Stage } from "./render";
import { ServerDecoder } from "./serverdecoder";
import { actionFor } from "./shortcuts";
import "./engine.css";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const POLL_MS = 1500;

export async function startEngine(ui: PageUi): Promise<void> {
  const params = new URLSearchParams(location.search);
  const eng = engineApi(params.get("annotator"));
  let session = await eng.session();
  const who = params.get("annotator") ?? session.annotator;
  const wanted = params.get("mode");
  const mode: EngineMode = wanted === "assisted" || wanted === "semi" || wanted === "review" ? wanted
    : session.stage >= 3 ? "review" : session.stage === 2 ? "semi" : "assisted";
  const stageNo: 1 | 2 = mode === "semi" ? 2 : 1;
  const body = document.body.dataset;
  body.engineMode = mode;
  body.modelRound = String(session.model_round);
  document.title = `samkit data engine · ${MODE_LABELS[mode]}`;
  const title = document.querySelector("header h1 span");
  if (title) title.textContent = "data engine";
  const panel = buildPanel($("images-panel"), mode, (m) => {
    params.set("mode", m);
    location.search = params.toString();
  });
  renderInfo(panel, session, who);
  for (const id of ["export-coco", "export-masks"]) $(id).hidden = true; // the engine exports with its CLI
  const stage = new Stage($("stage"));

  if (mode === "review") {
    $("image-tools").hidden = true;
    $("model-info").textContent = `reviewing automatic masks · model round ${session.model_round}`;
    const review = new ReviewMode(eng, stage, panel, ui);
    bindKeys((e) => review.key(e));
    window.addEventListener("resize", () => review.redraw());
    body.app = "ready";
    await review.start();
    return;
  }

  // ---- assisted / semi-automatic: the model in the page, the project's queue ------------------
  let model: ModelInfo;
  let decoder: PromptDecoder;
  let annotator: Annotator;
  let current: EngineImage | null = null;
  let openToken = 0;
  const cache = new MaskCache();
  const effort = { clicks: 0, first: null as number | null };
  const resetEffort = () => Object.assign(effort, { clicks: 0, first: null });

  let modelLoads = 0;
  async function loadModel(): Promise<void> {
    modelLoads++;
    model = await api.model();
    $("model-info").textContent = `${model.name} · round ${session.model_round}`;
    if (model.decoder_mode === "server") decoder = new ServerDecoder(model.decode_url ?? "/api/images/{id}/decode");
    else {
      ui.status("Loading the decoder…");
      decoder = await SamDecoder.load(api.url(model.decoder_url), model.embedding_shape, new URL("./ort/", document.baseURI).href);
    }
    annotator = new Annotator(model, decoder, stage, {
      status: ui.status,
      objectList: document.createElement("ul"), // the engine panel lists the stored masks instead
      objectCount: document.createElement("span"),
      maskChoices: $("mask-choices"),
      category: $<HTMLInputElement>("category-input"),
      latency: $("latency"),
      buttons: { accept: $("accept-button"), undo: $("undo-button"), redo: $("redo-button"), clear: $("clear-button") },
      saved: () => undefined,
      stored: (_image, ann) => storeMask(ann),
    }, window.__samkitStats);
  }

  /** POST the accepted mask (retried with the same client_id, so never stored twice). */
  async function storeMask(ann: Annotation): Promise<void> {
    const image = current!;
    const seconds = effort.first === null ? 0 : (performance.now() - effort.first) / 1000;
    const req = { segmentation: ann.segmentation, stage: stageNo, clicks: effort.clicks, seconds: Number(seconds.toFixed(3)),
      predicted_iou: ann.predicted_iou, client_id: crypto.randomUUID() };
    resetEffort();
    for (let attempt = 0; ; attempt++) {
      try {
        const stored = await eng.addMask(image.id, req);
        if (current?.id === image.id) {
          image.masks.push(stored);
          showMasks();
        }
        ui.status(`Stored mask #${stored.id} (${stored.area.toLocaleString()} px, ${stored.clicks} click${stored.clicks === 1 ? "" : "s"}, ${stored.seconds.toFixed(1)} s).`);
        return;
      } catch (e) {
        if ((e instanceof ApiError && e.status < 500) || attempt >= 3) {
          ui.status(`${e instanceof Error ? e.message : e} — the mask was not stored; accept it again.`, true);
          return;
        }
        await sleep(500 * (attempt + 1));
      }
    }
  }

  function showMasks(): void {
    if (!current) return;
    const hw: [number, number] = [current.height, current.width];
    renderMasks(panel, current.masks, (m) => void toggle(m));
    if (mode === "semi") {
      annotator.objects = overlayObjects(current.masks, cache, hw, true);
      const free = unlabeledFraction(current.masks, cache, hw);
      body.unlabeled = free.toFixed(4);
      panel.image.textContent = `${current.path} · ${current.width}×${current.height} · ${(100 * free).toFixed(1)}% unlabeled`;
    } else {
      annotator.objects = overlayObjects(current.masks.filter((m) => m.state === "accepted"), cache, hw, false);
      panel.image.textContent = `${current.path} · ${current.width}×${current.height}`;
    }
    annotator.refresh();
  }

  /** Reject a proposal, or restore a rejected one, at the version shown (409: reload and say so). */
  async function toggle(m: EngineMask): Promise<void> {
    const image = current;
    try {
      const changed = await eng.setState(m.id, m.state === "rejected" ? "proposed" : "rejected", m.version);
      if (image && current === image) image.masks = image.masks.map((x) => (x.id === changed.id ? changed : x));
      showMasks();
    } catch (e) {
      await conflict(e);
    }
  }

  async function conflict(e: unknown): Promise<void> {
    ui.status(e instanceof Error ? e.message : String(e), true);
    if (e instanceof ApiError && e.status === 409 && current) {
      current = await eng.image(current.id); // another annotator changed it: show what is stored now
      showMasks();
      body.conflicts = String(Number(body.conflicts ?? 0) + 1);
    }
  }

  async function openImage(image: EngineImage): Promise<void> {
    const token = ++openToken;
    current = image;
    resetEffort();
    decoder.clearEmbedding();
    annotator.close();
    body.embedding = "loading";
    body.engineImage = String(image.id);
    $("placeholder").hidden = true;
    const id = image.annotator_image_id;
    try {
      const img = new Image();
      img.src = api.imageFileUrl(id);
      await img.decode();
      if (token !== openToken) return;
      stage.setImage(img, [image.height, image.width]);
      let st = await api.startEmbedding(id);
      while (st.state === "queued" || st.state === "encoding") {
        ui.progress(st.state === "queued" ? "Waiting for the encoder…" : "Encoding image on the server…", st.progress);
        await sleep(150);
        if (token !== openToken) return;
        st = await api.embeddingStatus(id);
      }
      if (st.state === "error") throw new Error(`the server could not encode this image: ${st.error ?? "unknown error"}`);
      if (decoder instanceof ServerDecoder) decoder.setImage(id);
      else {
        const { bytes } = await api.embedding(id);
        if (token !== openToken) return;
        (decoder as SamDecoder).setEmbedding(float16BytesToFloat32(bytes));
      }
      ui.progress(null);
      const record: ImageRecord = { id, file_name: image.path, width: image.width, height: image.height, num_annotations: 0, embedded: true };
      annotator.open(record, [], null);
      showMasks();
      body.embedding = "ready";
      ui.status(mode === "semi" ? `${image.path}: reject wrong proposals (click), add what is hatched, N for the next image.`
        : `${image.path}: click an object, A to accept, N for the next image.`);
    } catch (e) {
      if (token !== openToken) return;
      ui.progress(null);
      body.embedding = "error";
      ui.status(e instanceof Error ? e.message : String(e), true);
    }
  }

  async function claimNext(): Promise<void> {
    const { image, remaining } = await eng.claimNext(stageNo);
    if (!image) {
      current = null;
      annotator.close();
      body.engineImage = "none";
      panel.image.textContent = "The queue of this stage is empty.";
      renderMasks(panel, [], () => undefined);
      ui.status(`Every image is done in stage ${stageNo}.`);
      return;
    }
    panel.next.title = `${remaining} image${remaining === 1 ? "" : "s"} left in stage ${stageNo}`;
    await openImage(image);
  }

  let finishing = false;
  async function nextImage(): Promise<void> {
    if (!current || finishing) return;
    finishing = true;
    try {
      const accept = mode === "semi" ? current.masks.filter((m) => m.state === "proposed").map((m) => ({ id: m.id, expected_version: m.version })) : [];
      const done = await eng.finish(current.id, stageNo, accept);
      ui.status(`Finished ${current.path}${mode === "semi" ? ` (${done.accepted} proposals accepted)` : ""}.`);
      session = await eng.session();
      renderInfo(panel, session, who);
      await claimNext();
    } catch (e) {
      await conflict(e);
    } finally {
      finishing = false;
    }
  }

  // Stage 2: a click on a standing proposal (no prompt in progress) rejects it; any other click prompts.
  const click = (x: number, y: number, label: 0 | 1) => {
    if (!current) return;
    if (mode === "semi" && label === 1 && isEmpty(annotator.history.present)) {
      const hit = cache.hit(current.masks.filter((m) => m.state === "proposed"), x, y, current.width);
      if (hit) return void toggle(hit);
    }
    if (effort.first === null) effort.first = performance.now();
    effort.clicks++;
    annotator.click(x, y, label);
  };

  $("object-list").hidden = true; // the engine panel lists the stored masks instead
  $("object-count").parentElement!.hidden = true;
  await loadModel();
  bindPointer(stage.overlay, () => stage, {
    click,
    dragging: (box) => annotator.dragging(box),
    box: (box) => {
      if (effort.first === null) effort.first = performance.now();
      effort.clicks++;
      annotator.box(box);
    },
    hover: (x, y) => annotator.hover(x, y),
    leave: () => annotator.leave(),
    pan: (dx, dy) => (stage.panBy(dx, dy), annotator.redraw()),
    zoom: (x, y, f) => (stage.zoomAt(x, y, f), annotator.redraw()),
  });
  bindKeys((e) => {
    const action = actionFor(e);
    const run: Partial<Record<string, () => void>> = {
      accept: () => void annotator.accept(), undo: () => annotator.undo(), redo: () => annotator.redo(),
      next: () => void nextImage(), mask1: () => annotator.pickMask(1), mask2: () => annotator.pickMask(2),
      mask3: () => annotator.pickMask(3), clear: () => (annotator.clear(), resetEffort()),
      hover: () => (annotator.hoverEnabled = !annotator.hoverEnabled, annotator.leave()),
      fit: () => (stage.resetView(), annotator.redraw()),
      hideObjects: () => (annotator.showObjects = !annotator.showObjects, annotator.refresh()),
    };
    const f = action ? run[action] : undefined;
    if (!f) return false;
    f();
    return true;
  });
  $("accept-button").addEventListener("click", () => void annotator.accept());
  $("undo-button").addEventListener("click", () => annotator.undo());
  $("redo-button").addEventListener("click", () => annotator.redo());
  $("clear-button").addEventListener("click", () => (annotator.clear(), resetEffort()));
  panel.next.addEventListener("click", () => void nextImage());
  window.addEventListener("resize", () => (stage.layout(), annotator.refresh()));
  (window as unknown as { __samkitEngine: object }).__samkitEngine = {
    image: () => current,
    effort: () => ({ ...effort }),
    modelLoads: () => modelLoads,
    prompt: () => annotator.history.present,
  };
  body.app = "ready";
  await claimNext();

  // Follow the served model: a retrained round adopted meanwhile means a new decoder and embedding.
  for (;;) {
    await sleep(POLL_MS);
    try {
      const s = await eng.session();
      if (s.model_round !== session.model_round) {
        session = s;
        ui.status(`The project adopted the model of round ${s.model_round}: reloading it…`);
        await loadModel();
        if (current) await openImage(current);
        body.modelRound = String(s.model_round);
      }
      session = s;
      renderInfo(panel, session, who);
    } catch {
      /* the server is restarting: try again at the next poll */
    }
  }
}

/** Route key presses (not typed into a field) to `handle`; it returns whether it used the key. */
function bindKeys(handle: (e: KeyboardEvent) => boolean): void {
  window.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement | null;
    if (t && t.tagName === "INPUT") return;
    if (handle(e)) e.preventDefault();
  });
}
