/**
 * Typed client for the data engine's modes (`samkit engine annotate`, /api/engine/...; the server
 * side is src/samkit/engine/web_*.py). Errors are ApiErrors with the server's message, as in api.ts.
 */
import { api, check, getJson } from "./api";
import type { CocoRle } from "./rle";

export interface EngineMask {
  id: number;
  image_id: number;
  stage: number;
  round: number;
  source: string;
  state: "accepted" | "proposed" | "rejected";
  segmentation: CocoRle;
  area: number;
  bbox: [number, number, number, number];
  clicks: number;
  seconds: number;
  predicted_iou: number | null;
  stability: number | null;
  version: number;
}

export interface EngineImage {
  id: number;
  /** The id under /api/images/{id}/... (file, embedding, decoding). */
  annotator_image_id: string;
  path: string;
  width: number;
  height: number;
  done_stages: number[];
  masks: EngineMask[];
}

export interface EngineSession {
  project: string;
  images_folder: string;
  annotator: string;
  stage: number;
  round: number;
  model_round: number;
  images: number;
  failed_images: number;
  done_by_stage: Record<string, number>;
}

export interface ReviewStats {
  reviewed: number;
  rejected: number;
  rejection_rate: number | null;
  queued: number;
  automatic_masks: number;
}

export interface ReviewQueue {
  items: { mask: EngineMask; image: EngineImage }[];
  stats: ReviewStats;
}

async function send<T>(method: string, path: string, body: unknown, what: string): Promise<T> {
  const r = await fetch(api.url(path), {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await check(r, what)).json() as Promise<T>;
}

/** Every request names the annotator when the page was opened with ?annotator=NAME (else the server's). */
export function engineApi(annotator: string | null) {
  const who = annotator ? { annotator } : {};
  return {
    session: () => getJson<EngineSession>("/api/engine/session", "reading the engine session"),
    claimNext: (stage: 1 | 2) =>
      send<{ image: EngineImage | null; remaining: number }>("POST", `/api/engine/queue/${stage}/next`, who, "claiming the next image"),
    image: (id: number) => getJson<EngineImage>(`/api/engine/images/${id}`, "reading the image's masks"),
    addMask: (imageId: number, body: { segmentation: CocoRle; stage: 1 | 2; clicks: number; seconds: number; predicted_iou: number | null; client_id: string }) =>
      send<EngineMask>("POST", `/api/engine/images/${imageId}/masks`, { ...body, ...who }, "storing the mask"),
    setState: (maskId: number, state: EngineMask["state"], expectedVersion: number) =>
      send<EngineMask>("PATCH", `/api/engine/masks/${maskId}`, { state, expected_version: expectedVersion }, "changing the mask"),
    finish: (imageId: number, stage: 1 | 2, accept: { id: number; expected_version: number }[]) =>
      send<{ image_id: number; accepted: number }>("POST", `/api/engine/images/${imageId}/finish`, { stage, accept, ...who }, "finishing the image"),
    review: () => getJson<ReviewQueue>("/api/engine/review", "reading the review queue"),
    sample: (n: number) => send<ReviewQueue>("POST", "/api/engine/review/sample", { n }, "sampling masks for review"),
    verdict: (maskId: number, verdict: "accept" | "reject") =>
      send<ReviewStats>("POST", `/api/engine/review/masks/${maskId}`, { verdict, ...who }, "recording the review"),
  };
}

export type EngineApi = ReturnType<typeof engineApi>;
