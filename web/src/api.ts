/**
 * Typed client for `samkit serve` (the HTTP contract in notes/web-api.md). Every call throws an
 * `ApiError` carrying the server's `detail` message so the page can show what went wrong.
 */
import type { CocoRle } from "./rle";

export interface ModelInfo {
  name: string;
  img_size: number;
  embedding_shape: [number, number, number, number];
  low_res_hw: [number, number];
  mask_threshold: number;
  decoder_url: string;
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

async function check(response: Response, what: string): Promise<Response> {
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

async function getJson<T>(path: string, what: string): Promise<T> {
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

  annotations: (id: string) =>
    getJson<{ image: ImageRecord; annotations: Annotation[] }>(
      `/api/images/${encodeURIComponent(id)}/annotations`,
      "reading annotations",
    ),

  /** Replace the image's whole annotation list (one transaction on the server); returns it with ids. */
  async saveAnnotations(id: string, annotations: Annotation[]): Promise<Annotation[]> {
    const r = await fetch(url(`/api/images/${encodeURIComponent(id)}/annotations`), {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(annotations),
    });
    const body = await (await check(r, "saving annotations")).json();
    return Array.isArray(body) ? body : body.annotations;
  },

  exportCocoUrl: () => url("/api/export/coco"),
  exportMasksUrl: () => url("/api/export/masks.zip"),
};
