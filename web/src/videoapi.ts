/**
 * Typed client for the video endpoints of `samkit serve` (/api/videos/..., docs/serve-api.md).
 * Coordinates are video pixels; object ids are the DAVIS labels of the export (1..255).
 */
import { check, getJson, api } from "./api";
import type { CocoRle } from "./rle";

export interface VideoRecord {
  id: string;
  name: string;
  kind: "file" | "frames";
  num_frames: number;
  width: number;
  height: number;
  num_objects: number;
  num_masked_frames: number;
  error: string | null;
}

export interface FramePrompt {
  obj_id: number;
  frame_idx: number;
  points: [number, number][];
  labels: number[];
  box: [number, number, number, number] | null;
}

export interface ObjectMask {
  obj_id: number;
  area: number;
  bbox: [number, number, number, number];
  segmentation: CocoRle;
}

export interface FrameMasks {
  frame_idx: number;
  width: number;
  height: number;
  source: "none" | "prompted" | "tracked";
  /** The object a prompt request added or refined. */
  obj_id: number | null;
  objects: ObjectMask[];
  prompts: FramePrompt[];
}

export type Direction = "both" | "forward" | "backward";

export interface PropagationStatus {
  state: "idle" | "running" | "done" | "cancelled" | "error";
  direction: Direction | null;
  start_frame_idx: number | null;
  frames_done: number;
  frames_total: number;
  progress: number;
  current_frame_idx: number | null;
  error: string | null;
}

export interface VideoSession {
  video: VideoRecord;
  objects: { obj_id: number; prompted_frames: number[] }[];
  prompted_frames: number[];
  masked_frames: number[];
  propagation: PropagationStatus;
}

/** The body of POST .../frames/{t}/prompts: an object's whole prompt on a frame (null: a new object). */
export interface VideoPromptBody {
  obj_id: number | null;
  points: [number, number][];
  labels: number[];
  box: [number, number, number, number] | null;
}

const base = (id: string) => `/api/videos/${encodeURIComponent(id)}`;

async function send<T>(method: string, path: string, what: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  return (await check(await fetch(api.url(path), init), what)).json() as Promise<T>;
}

export const videoApi = {
  list: () => getJson<VideoRecord[]>("/api/videos", "listing videos"),
  session: (id: string) => getJson<VideoSession>(base(id), "reading the video's session"),
  frameUrl: (id: string, frame: number, maxSide: number) => api.url(`${base(id)}/frames/${frame}?max_side=${maxSide}`),
  masks: (id: string, frame: number) => getJson<FrameMasks>(`${base(id)}/frames/${frame}/masks`, `reading the masks of frame ${frame}`),
  prompt: (id: string, frame: number, body: VideoPromptBody) =>
    send<FrameMasks>("POST", `${base(id)}/frames/${frame}/prompts`, `tracking frame ${frame}`, body),
  clearPrompts: (id: string, frame: number, objId: number | null) =>
    send<FrameMasks>("DELETE", `${base(id)}/frames/${frame}/prompts${objId === null ? "" : `?obj_id=${objId}`}`,
      `clearing the prompts of frame ${frame}`),
  removeObject: (id: string, objId: number) => send<VideoSession>("DELETE", `${base(id)}/objects/${objId}`, `removing object ${objId}`),
  propagate: (id: string, direction: Direction, startFrame: number | null) =>
    send<PropagationStatus>("POST", `${base(id)}/propagate`, "starting the propagation", { direction, start_frame_idx: startFrame }),
  propagation: (id: string) => getJson<PropagationStatus>(`${base(id)}/propagate`, "propagation status"),
  cancel: (id: string) => send<PropagationStatus>("DELETE", `${base(id)}/propagate`, "cancelling the propagation"),
  exportUrl: (id: string) => api.url(`${base(id)}/export/davis.zip`),
};
