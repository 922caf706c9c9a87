/**
 * What the semi-automatic mode draws over the image: the model's proposals (accepted unless rejected),
 * the masks annotators added, and the unlabeled regions, pixels that no accepted or proposed mask
 * covers, as a hatched overlay, so the annotator sees at a glance what the model missed.
 */
import type { Annotation } from "./api";
import type { Hw } from "./coords";
import type { EngineMask } from "./engineapi";
import { binaryCanvas, objectColor, type Rgb } from "./render";
import { decodeRle } from "./rle";

export const HATCH_RGB: Rgb = [255, 210, 0];
const REJECTED_RGB: Rgb = [90, 90, 90];
/** Stripes per longest image side: the hatch looks the same on small and large images. */
const HATCH_STRIPES = 48;

export type OverlayObject = { ann: Annotation; canvas: HTMLCanvasElement; color: Rgb };

export class MaskCache {
  private readonly masks = new Map<number, Uint8Array>();

  get(m: EngineMask): Uint8Array {
    let mask = this.masks.get(m.id);
    if (!mask) {
      mask = decodeRle(m.segmentation);
      this.masks.set(m.id, mask);
    }
    return mask;
  }

  /** The first mask of `masks` covering image pixel (x, y), or null. */
  hit(masks: readonly EngineMask[], x: number, y: number, width: number): EngineMask | null {
    const i = Math.floor(y) * width + Math.floor(x);
    return masks.find((m) => this.get(m)[i] !== 0) ?? null;
  }
}

export function counts(m: EngineMask): boolean {
  return m.state === "accepted" || m.state === "proposed";
}

/** H x W: 1 where no accepted or proposed mask covers the pixel. */
export function unlabeled(masks: readonly EngineMask[], cache: MaskCache, hw: Hw): Uint8Array {
  const free = new Uint8Array(hw[0] * hw[1]).fill(1);
  for (const m of masks) {
    if (!counts(m)) continue;
    const mask = cache.get(m);
    for (let i = 0; i < free.length; i++) if (mask[i]) free[i] = 0;
  }
  return free;
}

/** Diagonal stripes over the pixels of `free`. */
export function hatchCanvas(free: Uint8Array, hw: Hw): HTMLCanvasElement {
  const [h, w] = hw;
  const period = Math.max(4, Math.round(Math.max(h, w) / HATCH_STRIPES));
  const width = Math.max(1, Math.round(period / 4));
  const stripes = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (free[i] && (x + y) % period < width) stripes[i] = 1;
    }
  }
  return binaryCanvas(stripes, hw, HATCH_RGB, 170);
}

/** The objects the stage draws: stored masks (rejected ones greyed), then the hatch if asked for. */
export function overlayObjects(masks: readonly EngineMask[], cache: MaskCache, hw: Hw, hatch: boolean): OverlayObject[] {
  const out: OverlayObject[] = masks.map((m, i) => {
    const color = m.state === "rejected" ? REJECTED_RGB : objectColor(i);
    const canvas = binaryCanvas(cache.get(m), hw, color, m.state === "rejected" ? 45 : 100);
    return { ann: toAnnotation(m), canvas, color };
  });
  if (hatch) {
    const free = unlabeled(masks, cache, hw);
    out.push({ ann: { category: "unlabeled", segmentation: masks[0]?.segmentation ?? { size: hw, counts: "" }, bbox: [0, 0, hw[1], hw[0]], area: 0, predicted_iou: null }, canvas: hatchCanvas(free, hw), color: HATCH_RGB });
  }
  return out;
}

export function toAnnotation(m: EngineMask): Annotation {
  return { id: m.id, category: m.source, segmentation: m.segmentation, bbox: m.bbox, area: m.area, predicted_iou: m.predicted_iou };
}

/** Fraction of the image no accepted or proposed mask covers. */
export function unlabeledFraction(masks: readonly EngineMask[], cache: MaskCache, hw: Hw): number {
  const free = unlabeled(masks, cache, hw);
  let n = 0;
  for (let i = 0; i < free.length; i++) n += free[i];
  return n / Math.max(1, free.length);
}
