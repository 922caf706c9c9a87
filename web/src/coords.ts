/**
 * Coordinate frames used by the page.
 *
 * - image frame: original image pixels (x right, y down), what prompts and annotations are stored in.
 * - model-input frame: the image resized so its longest side is `imgSize` (1024 for real presets),
 *   i.e. image * imgSize / max(H, W); the ONNX decoder's point_coords are in this frame.
 * - display frame: CSS pixels of the canvas the image is drawn on (the image is scaled to fit).
 */

export type Hw = [number, number];

/** Scale from the image frame to the model-input frame. */
export function modelScale(origHw: Hw, imgSize: number): number {
  return imgSize / Math.max(origHw[0], origHw[1]);
}

/** Size at which to ask the decoder for masks: the image size, capped so the longest side <= maxSide. */
export function outputHw(origHw: Hw, maxSide: number): Hw {
  const [h, w] = origHw;
  const s = Math.min(1, maxSide / Math.max(h, w));
  return [Math.max(1, Math.round(h * s)), Math.max(1, Math.round(w * s))];
}

/** Display-frame point (CSS px in a canvas of cssW x cssH showing the whole image) -> image frame. */
export function displayToImage(xCss: number, yCss: number, cssW: number, cssH: number, origHw: Hw): [number, number] {
  const [h, w] = origHw;
  const x = Math.min(Math.max((xCss * w) / cssW, 0), w - 1e-3);
  const y = Math.min(Math.max((yCss * h) / cssH, 0), h - 1e-3);
  return [x, y];
}

/** Image frame -> display frame. */
export function imageToDisplay(x: number, y: number, cssW: number, cssH: number, origHw: Hw): [number, number] {
  return [(x * cssW) / origHw[1], (y * cssH) / origHw[0]];
}

/** Largest size with the image's aspect ratio that fits in the box (CSS px). */
export function fitSize(origHw: Hw, boxW: number, boxH: number): { width: number; height: number } {
  const s = Math.min(boxW / origHw[1], boxH / origHw[0]);
  return { width: Math.max(1, Math.floor(origHw[1] * s)), height: Math.max(1, Math.floor(origHw[0] * s)) };
}
