/**
 * The video mode's panels: the folder's video list, the objects of the open video (colour swatch,
 * id, area on the shown frame, the frames it is prompted on, delete button), and the timeline strip
 * under the slider (which frames are prompted, tracked or empty; where the cursor is).
 */
import { objectColor, type Rgb } from "./render";
import type { VideoRecord } from "./videoapi";

/** The colour an object is drawn in: the image mode's palette, by object id (stable across frames). */
export function videoObjectColor(objId: number): Rgb {
  return objectColor(objId - 1);
}

export function renderVideoList(list: HTMLElement, videos: readonly VideoRecord[], currentId: string | null,
                                open: (id: string) => void): void {
  list.replaceChildren();
  if (videos.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No videos: add video files or folders of numbered frames (00000.jpg, …).";
    list.append(li);
    return;
  }
  for (const v of videos) {
    const li = document.createElement("li");
    li.className = "video" + (v.id === currentId ? " current" : "");
    li.dataset.videoId = v.id;
    li.title = v.error ? `${v.name}: ${v.error}` : `${v.name} (${v.num_frames} frames, ${v.width}x${v.height})`;
    const icon = document.createElement("span");
    icon.className = "kind";
    icon.textContent = v.kind === "file" ? "▶" : "▦";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = v.name;
    const info = document.createElement("span");
    info.className = "meta" + (v.error ? " error" : "");
    info.textContent = v.error
      ? "cannot be read"
      : `${v.num_frames} frames · ${v.width}×${v.height}` + (v.num_objects ? ` · ${v.num_objects} obj` : "");
    li.append(icon, name, info);
    li.addEventListener("click", () => open(v.id));
    list.append(li);
  }
}

export interface VideoObjectRow {
  objId: number;
  /** Pixels on the frame shown (null: not known yet). */
  area: number | null;
  promptedFrames: readonly number[];
}

export interface VideoObjectHandlers {
  select(objId: number): void;
  remove(objId: number): void;
  goTo(frame: number): void;
}

export function renderVideoObjects(list: HTMLElement, rows: readonly VideoObjectRow[], selected: number | null,
                                   h: VideoObjectHandlers): void {
  list.replaceChildren();
  if (rows.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No objects yet: click an object on any frame.";
    list.append(empty);
    return;
  }
  for (const row of rows) {
    const li = document.createElement("li");
    li.className = "object" + (row.objId === selected ? " selected" : "");
    li.dataset.objId = String(row.objId);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${videoObjectColor(row.objId).join(",")})`;
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = `Object ${row.objId}`;
    const meta = document.createElement("span");
    meta.className = "meta";
    const area = row.area === null ? "" : `${row.area.toLocaleString()} px here · `;
    meta.append(`${area}prompted on `);
    if (row.promptedFrames.length === 0) meta.append("no frame");
    row.promptedFrames.slice(0, 8).forEach((t, i) => {
      if (i) meta.append(", ");
      const link = document.createElement("a");
      link.href = "#";
      link.textContent = String(t);
      link.title = `Go to frame ${t}`;
      link.addEventListener("click", (e) => {
        e.preventDefault();
        e.stopPropagation();
        h.goTo(t);
      });
      meta.append(link);
    });
    if (row.promptedFrames.length > 8) meta.append(", …");
    const del = document.createElement("button");
    del.className = "delete";
    del.title = "Remove this object from every frame";
    del.textContent = "✕";
    del.addEventListener("click", (e) => {
      e.stopPropagation();
      h.remove(row.objId);
    });
    li.append(swatch, name, meta, del);
    li.addEventListener("click", () => h.select(row.objId));
    list.append(li);
  }
}

const COVERAGE_COLORS = ["#2b323c", "#22c55e", "#1e90ff"]; // nothing, tracked, prompted

/** Paint the strip: one column per frame coloured by its coverage, and the current frame marked. */
export function drawTimelineStrip(canvas: HTMLCanvasElement, coverage: Uint8Array, current: number): void {
  const rect = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(rect.width * dpr));
  canvas.height = Math.max(1, Math.round(rect.height * dpr));
  const ctx = canvas.getContext("2d")!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const n = coverage.length;
  if (n === 0) return;
  const w = canvas.width / n;
  for (let t = 0; t < n; t++) {
    ctx.fillStyle = COVERAGE_COLORS[coverage[t]];
    ctx.fillRect(Math.floor(t * w), 0, Math.max(1, Math.ceil(w - (w > 3 ? 1 : 0))), canvas.height);
  }
  ctx.fillStyle = "#fff";
  ctx.fillRect(Math.floor((current + 0.5) * w) - dpr, 0, 2 * dpr, canvas.height);
}
