/**
 * Decode latency as the page measures it (performance.now around session.run), exposed on
 * `window.__samkitStats` so tests and curious users can read it from the console.
 */

export type DecodeKind = "click" | "hover" | "accept";

export interface DecodeSample {
  kind: DecodeKind;
  ms: number;
  /** Prompt points given to the decoder (box corners and padding included). */
  points: number;
  /** Size of the low-res masks the decoder returned, [h, w]. */
  lowHw: [number, number];
  /** For clicks: ms from the decode's end until the mask was drawn (upscale + paint + panels). */
  drawMs?: number;
  /** drawMs split: mask (upscale + threshold + paint), overlay (canvas drawing), panels (mask choices, lists). */
  drawParts?: { mask: number; overlay: number; panels: number };
}

export interface SamkitStats {
  decodes: DecodeSample[];
  threads: number;
  crossOriginIsolated: boolean;
  decoderLoadMs: number | null;
  /** Time from opening an image to its embedding being usable (encode wait + download + convert). */
  embeddingReadyMs: number | null;
  /** Embedding download + float16 conversion only. */
  embeddingFetchMs: number | null;
}

declare global {
  interface Window {
    __samkitStats: SamkitStats;
  }
}

export function initStats(): SamkitStats {
  window.__samkitStats = {
    decodes: [],
    threads: 1,
    crossOriginIsolated: !!globalThis.crossOriginIsolated,
    decoderLoadMs: null,
    embeddingReadyMs: null,
    embeddingFetchMs: null,
  };
  return window.__samkitStats;
}

/** p-th percentile (0..100) by linear interpolation, as numpy's default. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}
