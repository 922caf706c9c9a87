/**
 * Page bootstrap: read the model, load the ONNX decoder into onnxruntime-web, list the folder's images,
 * open one (wait for the server to encode it, fetch the float16 embedding), and wire the controls.
 * For a model decoded on the server (SAM 2, `decoder_mode: "server"`) nothing is loaded or fetched:
 * once the image is encoded, prompts go to the server (serverdecoder.ts).
 * Opening a video from the list switches to the video mode (video.ts) until an image is opened again:
 * the stage, pointer and keys then drive the video's frames and objects.
 */
import "./style.css";

import { api, type ImageRecord } from "./api";
import { Annotator } from "./annotator";
import { SamDecoder, type PromptDecoder } from "./decoder";
import { ServerDecoder } from "./serverdecoder";
import { TextAwareDecoder, TextPromptField } from "./textprompt";
import { float16BytesToFloat32 } from "./float16";
import { bindUpload, renderImageList } from "./images";
import { bindPointer } from "./pointer";
import { Stage } from "./render";
import { actionFor, renderHelp, type Action } from "./shortcuts";
import { initStats } from "./stats";
import { VideoMode } from "./video";
import { videoApi, type VideoRecord } from "./videoapi";
import { startEngine } from "./engine";
import { renderVideoHelp, videoActionFor } from "./videokeys";
import { renderVideoList } from "./videoview";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const stats = initStats();
const statusEl = $("status");

function status(text: string, error = false): void {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", error);
}

function showProgress(label: string | null, fraction = 0): void {
  $("progress").hidden = label === null;
  if (label !== null) {
    $("progress-label").textContent = label;
    $("progress-fill").style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const model = await api.model();
  $("model-info").textContent = `${model.name} · embedding ${model.embedding_shape.slice(1).join("×")}` +
    (model.decoder_mode === "server" ? " · decoded on the server" : "");
  const server = model.decoder_mode === "server" ? new ServerDecoder(model.decode_url ?? "/api/images/{id}/decode") : null;
  let decoder: PromptDecoder;
  if (server) {
    decoder = server;
  } else {
    status("Loading the decoder…");
    decoder = await SamDecoder.load(api.url(model.decoder_url), model.embedding_shape, new URL("./ort/", document.baseURI).href);
  }
  Object.assign(stats, {
    threads: decoder.info.threads,
    crossOriginIsolated: decoder.info.crossOriginIsolated,
    decoderLoadMs: decoder.info.loadMs,
  });
  const stage = new Stage($("stage"));
  let images: ImageRecord[] = [];
  let current: ImageRecord | null = null;
  let openToken = 0;

  // Text prompts (when the model has a text path) are decoded on the server, the rest as before.
  const textInfo = await api.textPrompt().catch(() => null); // an older server has no such route
  let textField: TextPromptField | null = null;
  const annotator = new Annotator(model, new TextAwareDecoder(decoder, () => current?.id ?? null), stage, {
    status,
    objectList: $("object-list"),
    objectCount: $("object-count"),
    maskChoices: $("mask-choices"),
    category: $<HTMLInputElement>("category-input"),
    latency: $("latency"),
    buttons: {
      accept: $<HTMLButtonElement>("accept-button"),
      undo: $<HTMLButtonElement>("undo-button"),
      redo: $<HTMLButtonElement>("redo-button"),
      clear: $<HTMLButtonElement>("clear-button"),
    },
    saved: (image, count) => {
      const rec = images.find((i) => i.id === image.id);
      if (rec) rec.num_annotations = count;
      drawImageList();
    },
    promptText: (text) => textField?.show(text),
  }, stats);
  textField = new TextPromptField({ panel: $("text-prompt"), input: $<HTMLInputElement>("text-input"),
    button: $<HTMLButtonElement>("text-button"), options: $<HTMLDataListElement>("text-options") }, textInfo,
  (text) => annotator.setText(text));

  const drawImageList = () => renderImageList($("image-list"), listedImages(), current?.id ?? null, (id) => void openImage(id));
  /** The images the list shows: the frames of a video's folder are under Videos, not one by one here. */
  const listedImages = (): ImageRecord[] => {
    const folders = new Set(videos.filter((v) => v.kind === "frames" && v.name !== ".").map((v) => v.name));
    return images.filter((i) => !folders.has(i.file_name.slice(0, Math.max(0, i.file_name.lastIndexOf("/")))));
  };

  let videos: VideoRecord[] = [];
  const help = $("help");
  const toggleHelp = () => (help.hidden = !help.hidden);
  const video = new VideoMode(model, stage, {
    status,
    stageBusy: (fraction, label) => showProgress(fraction === null ? null : label ?? "", fraction ?? 0),
    slider: $<HTMLInputElement>("frame-slider"),
    frameLabel: $("frame-label"),
    strip: $<HTMLCanvasElement>("frame-strip"),
    objectList: $("video-object-list"),
    objectCount: $("video-object-count"),
    progressFill: $("video-progress-fill"),
    progressLabel: $("video-progress-label"),
    direction: $<HTMLSelectElement>("video-direction"),
    buttons: {
      propagate: $<HTMLButtonElement>("video-propagate"),
      cancel: $<HTMLButtonElement>("video-cancel"),
      newObject: $<HTMLButtonElement>("video-new-object"),
      clear: $<HTMLButtonElement>("video-clear"),
      exportDavis: $<HTMLButtonElement>("video-export"),
    },
    toggleHelp,
    helpOpen: () => !help.hidden,
    changed: () => void refreshVideos(),
  });
  const drawVideoList = () => renderVideoList($("video-list"), videos, video.video?.id ?? null, (id) => void openVideo(id));

  async function refreshVideos(): Promise<void> {
    videos = await videoApi.list();
    drawVideoList();
    drawImageList();
  }

  /** Show the image mode's or the video mode's panels and timeline. */
  function setMode(mode: "image" | "video"): void {
    $("image-tools").hidden = mode === "video";
    $("video-tools").hidden = mode === "image";
    $("video-timeline").hidden = mode === "image";
    document.body.dataset.mode = mode;
    stage.layout(); // the timeline takes height from the stage
  }

  async function openVideo(id: string): Promise<void> {
    const record = videos.find((v) => v.id === id);
    if (!record) return;
    if (record.error) {
      status(`${record.name} cannot be read: ${record.error}`, true);
      return;
    }
    ++openToken; // an image still opening is abandoned
    await annotator.flush();
    annotator.close();
    decoder.clearEmbedding();
    current = null;
    delete document.body.dataset.imageId;
    document.body.dataset.embedding = "none";
    drawImageList();
    $("placeholder").hidden = true;
    setMode("video");
    const opening = video.open(record);
    drawVideoList();
    await opening;
  }

  async function refreshImages(): Promise<void> {
    images = await api.images();
    drawImageList();
  }

  /** Open an image: show it, wait for its embedding (progress bar), then enable prompting. */
  async function openImage(id: string): Promise<void> {
    const token = ++openToken;
    const record = images.find((i) => i.id === id);
    if (!record) return;
    await annotator.flush();
    if (video.active) {
      video.close();
      setMode("image");
      drawVideoList();
    }
    current = record;
    drawImageList();
    decoder.clearEmbedding();
    annotator.close();
    document.body.dataset.embedding = "loading";
    $("placeholder").hidden = true;
    const t0 = performance.now();
    try {
      const img = new Image();
      img.src = api.imageFileUrl(id);
      const [, saved] = await Promise.all([img.decode(), api.annotations(id)]);
      if (token !== openToken) return;
      stage.setImage(img, [record.height, record.width]);
      showProgress("Encoding image on the server…", 0);
      status(`Encoding ${record.file_name}…`);
      let st = await api.startEmbedding(id);
      while (st.state === "queued" || st.state === "encoding") {
        showProgress(st.state === "queued" ? "Waiting for the encoder…" : "Encoding image on the server…", st.progress);
        await sleep(150);
        if (token !== openToken) return;
        st = await api.embeddingStatus(id);
      }
      if (st.state === "error") throw new Error(`the server could not encode this image: ${st.error ?? "unknown error"}`);
      if (server) {
        server.setImage(id); // the features stay on the server, which decodes every prompt
        stats.embeddingFetchMs = 0;
      } else {
        showProgress("Downloading the embedding…", 1);
        const f0 = performance.now();
        const { bytes } = await api.embedding(id);
        const values = float16BytesToFloat32(bytes);
        if (token !== openToken) return;
        (decoder as SamDecoder).setEmbedding(values);
        stats.embeddingFetchMs = performance.now() - f0;
      }
      stats.embeddingReadyMs = performance.now() - t0;
      record.embedded = true;
      drawImageList();
      showProgress(null);
      annotator.open(record, saved.annotations, saved.version ?? null);
      document.body.dataset.embedding = "ready";
      document.body.dataset.imageId = id;
      status(`${record.file_name}: click the object (left = add, right = remove, drag = box), A to accept.`);
    } catch (e) {
      if (token !== openToken) return;
      showProgress(null);
      document.body.dataset.embedding = "error";
      status(e instanceof Error ? e.message : String(e), true);
    }
  }

  function step(delta: number): void {
    const listed = listedImages();
    if (!listed.length) return;
    const i = current ? listed.findIndex((r) => r.id === current!.id) : -1;
    const next = listed[(i + delta + listed.length) % listed.length];
    void openImage(next.id);
  }

  async function upload(files: File[]): Promise<void> {
    let last: ImageRecord | null = null;
    for (const file of files) {
      status(`Uploading ${file.name}…`);
      try {
        last = await api.upload(file);
      } catch (e) {
        status(e instanceof Error ? e.message : String(e), true);
      }
    }
    await refreshImages();
    if (last) {
      status(`Uploaded ${files.length === 1 ? files[0].name : `${files.length} files`}.`);
      void openImage(last.id);
    }
  }

  async function download(href: string): Promise<void> {
    await annotator.flush(); // the export must include what was just accepted
    const a = document.createElement("a");
    a.href = href;
    a.download = "";
    document.body.append(a);
    a.click();
    a.remove();
  }

  renderHelp($("help-table"));
  renderVideoHelp($("help-table"));

  const actions: Record<Action, () => void> = {
    accept: () => void annotator.accept(),
    undo: () => annotator.undo(),
    redo: () => annotator.redo(),
    next: () => step(1),
    prev: () => step(-1),
    mask1: () => annotator.pickMask(1),
    mask2: () => annotator.pickMask(2),
    mask3: () => annotator.pickMask(3),
    clear: () => (help.hidden ? annotator.clear() : toggleHelp()),
    delete: () => annotator.removeSelected(),
    help: toggleHelp,
    hover: () => {
      annotator.hoverEnabled = !annotator.hoverEnabled;
      annotator.leave();
      status(`Live preview ${annotator.hoverEnabled ? "on" : "off"}.`);
    },
    fit: () => {
      stage.resetView();
      annotator.redraw();
    },
    hideObjects: () => {
      annotator.showObjects = !annotator.showObjects;
      annotator.refresh();
    },
  };
  window.addEventListener("keydown", (e) => {
    if (video.active) {
      const videoAction = videoActionFor(e);
      if (videoAction) {
        e.preventDefault();
        video.run(videoAction);
      }
      return;
    }
    const action = actionFor(e);
    if (!action) return;
    e.preventDefault();
    actions[action]();
  });
  const categoryInput = $<HTMLInputElement>("category-input");
  categoryInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === "Escape") categoryInput.blur(); // back to shortcuts
  });
  $("accept-button").addEventListener("click", actions.accept);
  $("undo-button").addEventListener("click", actions.undo);
  $("redo-button").addEventListener("click", actions.redo);
  $("clear-button").addEventListener("click", () => annotator.clear());
  $("help-button").addEventListener("click", toggleHelp);
  $("help-close").addEventListener("click", toggleHelp);
  help.addEventListener("click", (e) => e.target === help && toggleHelp());
  $("export-coco").addEventListener("click", () => void download(api.exportCocoUrl()));
  $("export-masks").addEventListener("click", () => void download(api.exportMasksUrl()));
  bindUpload($<HTMLInputElement>("upload-input"), $("images-panel"), (files) => void upload(files));
  // The stage's gestures go to the video mode while a video is open, else to the image annotator.
  const redraw = () => (video.active ? video.draw() : annotator.redraw());
  bindPointer(stage.overlay, () => stage, {
    click: (x, y, label) => (video.active ? video.click(x, y, label) : annotator.click(x, y, label)),
    dragging: (box) => (video.active ? video.dragging(box) : annotator.dragging(box)),
    box: (box) => (video.active ? video.box(box) : annotator.box(box)),
    hover: (x, y) => !video.active && annotator.hover(x, y),
    leave: () => !video.active && annotator.leave(),
    pan: (dx, dy) => {
      stage.panBy(dx, dy);
      redraw();
    },
    zoom: (x, y, factor) => {
      stage.zoomAt(x, y, factor);
      redraw();
    },
  });
  const slider = $<HTMLInputElement>("frame-slider");
  slider.addEventListener("input", () => video.goTo(Number(slider.value)));
  $("frame-prev").addEventListener("click", () => video.run("prev"));
  $("frame-next").addEventListener("click", () => video.run("next"));
  $("video-new-object").addEventListener("click", () => video.newObject());
  $("video-clear").addEventListener("click", () => video.clear());
  $("video-propagate").addEventListener("click", () => video.propagate());
  $("video-cancel").addEventListener("click", () => video.cancel());
  $("video-export").addEventListener("click", () => video.exportDavis());
  // A save in flight or one that failed means objects exist only in this page: warn before leaving.
  window.addEventListener("beforeunload", (e) => {
    if (annotator.hasUnsavedChanges) e.preventDefault();
  });
  window.addEventListener("resize", () => {
    stage.layout();
    if (video.active) video.goTo(video.frame);
    else annotator.refresh();
  });

  // Read-only view of the page's state for tests and the console (no way to change anything).
  (window as unknown as { __samkit: object }).__samkit = {
    prompt: () => annotator.history.present,
    objects: () => annotator.objects.map((o) => o.ann),
    imageId: () => current?.id ?? null,
    video: () => video.snapshot(),
  };

  await Promise.all([refreshImages(), refreshVideos()]);
  annotator.refresh();
  document.body.dataset.app = "ready";
  status(images.length || videos.length ? "Open an image or a video to start." : "This folder has no images yet: upload some.");
  const params = new URLSearchParams(location.search);
  const wanted = params.get("image");
  const wantedVideo = params.get("video");
  if (wanted && images.some((i) => i.id === wanted)) void openImage(wanted);
  else if (wantedVideo && videos.some((v) => v.id === wantedVideo)) void openVideo(wantedVideo);
}

// `samkit engine annotate` serves this page marked data-engine: it runs the data engine's modes (engine.ts).
(document.body.dataset.engine ? startEngine({ status, progress: showProgress }) : main()).catch((e) => {
  document.body.dataset.app = "error";
  status(`Could not start: ${e instanceof Error ? e.message : e}`, true);
  console.error(e);
});
