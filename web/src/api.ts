/**
 * Typed client for `samkit serve` (the HTTP contract in notes/web-api.md). Every call throws an
 * `ApiError` carrying the server's `detail` message so the page can show what went wrong.
 */
import { float16BytesToFloat32 } from "./float16";
import type { CocoRle } from "./rle";

export interface ModelInfo {
  name: string;
  img_size: number;
  embedding_shape: [number, number, number, number];
  low_res_hw: [number, number];
  mask_threshold: number;
  decoder_url: string;
  /** Absent on servers older than SAM 2 support: treat as "sam1" / "browser-onnx" / "longest-side-padded". */
  family?: "sam1" | "sam2";
  /** browser-onnx: run decoder_url in the page on the fetched embedding; server: POST prompts to decode_url. */
  decoder_mode?: "browser-onnx" | "server";
  /** Template with "{id}" for the image id. */
  decode_url?: string;
  /** What the low-res logits cover: the padded longest-side-resized image (SAM 1) or the whole image (SAM 2). */
  low_res_frame?: "longest-side-padded" | "whole-image";
}

/** GET /api/text_prompt: whether the model has a text path (textprompt.ts) and, for a closed one, its names. */
export interface TextPromptInfo {
  available: boolean;
  kind?: string | null;
  vocabulary: string[];
}

/** A prompt for the server's decoder, in image pixels (the body of POST /api/images/{id}/decode). */
export interface DecodeRequest {
  points: [number, number][];
  labels: number[];
  box: [number, number, number, number] | null;
  multimask_output: boolean;
  mask_input_id?: string | null;
  mask_index?: number;
}

/** What the server's decoder returned: K x h x w low-res logits and K predicted IoUs. */
export interface ServerDecodeResult {
  lowRes: Float32Array;
  shape: [number, number, number];
  iou: Float32Array;
  maskId: string | null;
  /** Decoder time on the server (X-Decode-Ms). */
  serverMs: number;
}

export interface ImageRecord {
  id: string;
  file_name: string;
  width: number;
  height: number;
  num_annotations: number;
  embedded: boolean;
}

export interface EmbeddingStatus {
  state: "queued" | "encoding" | "ready" | "error";
  progress: number;
  error: string | null;
}

/** An annotation as the server stores it (image frame; bbox [x, y, w, h]). */
export interface Annotation {
  id?: number;
  category: string;
  segmentation: CocoRle;
  bbox: [number, number, number, number];
  area: number;
  predicted_iou: number | null;
  created?: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Resolve API paths against the page's location so the bundle works under any base path. */
function url(path: string): string {
  return new URL(path.replace(/^\//, ""), document.baseURI).href;
}

export async function check(response: Response, what: string): Promise<Response> {
  if (response.ok) return response;
  let detail = response.statusText;
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") detail = body.detail;
    else if (body && body.detail) detail = JSON.stringify(body.detail);
  } catch {
    /* not JSON: keep the status text */
  }
  throw new ApiError(response.status, `${what}: ${detail || `HTTP ${response.status}`}`);
}

export async function getJson<T>(path: string, what: string): Promise<T> {
  return (await check(await fetch(url(path)), what)).json() as Promise<T>;
}

export const api = {
  url,
  model: () => getJson<ModelInfo>("/api/model", "reading the model"),
  images: () => getJson<ImageRecord[]>("/api/images", "listing images"),
  imageFileUrl: (id: string) => url(`/api/images/${encodeURIComponent(id)}/file`),

  async upload(file: File): Promise<ImageRecord> {
    const form = new FormData();
    form.append("file", file, file.name);
    const r = await fetch(url("/api/images"), { method: "POST", body: form });
    return (await check(r, `uploading ${file.name}`)).json();
  },

  async startEmbedding(id: string): Promise<EmbeddingStatus> {
    const r = await fetch(url(`/api/images/${encodeURIComponent(id)}/embedding`), { method: "POST" });
    return (await check(r, "starting the image encoder")).json();
  },

  embeddingStatus: (id: string) =>
    getJson<EmbeddingStatus>(`/api/images/${encodeURIComponent(id)}/embedding/status`, "encoder status"),

  /** The float16 embedding bytes and their shape (from the X-Embedding-Shape header). */
  async embedding(id: string): Promise<{ bytes: ArrayBuffer; shape: number[] }> {
    const r = await check(await fetch(url(`/api/images/${encodeURIComponent(id)}/embedding`)), "fetching the embedding");
    const header = r.headers.get("X-Embedding-Shape");
    const shape = header ? header.split(",").map((s) => parseInt(s.trim(), 10)) : [];
    return { bytes: await r.arrayBuffer(), shape };
  },

  /** Decode a prompt on the server (SAM 2; a text prompt: textprompt.ts); `template` is ModelInfo.decode_url. */
  async decode(template: string, id: string, body: DecodeRequest, what = "decoding on the server"): Promise<ServerDecodeResult> {
    const r = await fetch(url(template.replace("{id}", encodeURIComponent(id))), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    await check(r, what);
    const shape = (r.headers.get("X-Mask-Shape") ?? "").split(",").map((v) => parseInt(v.trim(), 10));
    if (shape.length !== 3 || shape.some((v) => !Number.isFinite(v))) throw new Error("the server's decode has no X-Mask-Shape");
    const iou = Float32Array.from((r.headers.get("X-Iou-Predictions") ?? "").split(",").map(Number));
    const lowRes = float16BytesToFloat32(await r.arrayBuffer());
    return {
      lowRes,
      shape: shape as [number, number, number],
      iou,
      maskId: r.headers.get("X-Mask-Id"),
      serverMs: Number(r.headers.get("X-Decode-Ms") ?? NaN),
    };
  },

  textPrompt: () => getJson<TextPromptInfo>("/api/text_prompt", "reading the text prompt support"),

  /** The image's saved objects and the version of that list (send it back when saving). */
  annotations: (id: string) =>
    getJson<{ image: ImageRecord; annotations: Annotation[]; version: number }>(
      `/api/images/${encodeURIComponent(id)}/annotations`,
      "reading annotations",
    ),

  /**
   * Replace the image's whole annotation list (one transaction on the server); returns it with ids
   * and its new version. `version`: the one this edit started from; if another client saved since,
   * the server refuses with 409 (ApiError.status) instead of overwriting what this page never saw.
   */
  async saveAnnotations(
    id: string,
    annotations: Annotation[],
    version: number | null,
  ): Promise<{ annotations: Annotation[]; version: number | null }> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (version !== null) headers["If-Match"] = `"${version}"`;
    const r = await fetch(url(`/api/images/${encodeURIComponent(id)}/annotations`), {
      method: "PUT",
      headers,
      body: JSON.stringify(annotations),
    });
    const body = await (await check(r, "saving annotations")).json();
    const etag = (r.headers.get("ETag") ?? "").replace(/^W\//, "").replace(/"/g, "");
    return { annotations: Array.isArray(body) ? body : body.annotations, version: /^\d+$/.test(etag) ? Number(etag) : null };
  },

  exportCocoUrl: () => url("/api/export/coco"),
  exportMasksUrl: () => url("/api/export/masks.zip"),
};
