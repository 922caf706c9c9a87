/**
 * The choice among SAM's three masks for an ambiguous prompt (a single click): a thumbnail and the
 * predicted IoU of masks 1..3 (small part, part, whole object), the shown one highlighted.
 */
import type { DecodeResult } from "./decoder";


let lastKey: { result: DecodeResult; chosen: number } | null = null;

/** Show the choices of `result` (or hide the panel when null); `pick(k)` is called with k in 1..3. */
export function renderMaskChoices(
  panel: HTMLElement,
  result: DecodeResult | null,
  chosen: number,
  thumbnail: (k: number) => HTMLCanvasElement,
  pick: (k: 1 | 2 | 3) => void,
): void {
  panel.hidden = result === null;
  if (result === null) {
    lastKey = null;
    return;
  }
  if (lastKey && lastKey.result === result && lastKey.chosen === chosen) return; // nothing changed
  lastKey = { result, chosen };
  const row = panel.querySelector(".choices")!;
  row.replaceChildren();
  for (let k = 1; k <= 3; k++) {
    const button = document.createElement("button");
    button.className = "choice" + (k === chosen ? " chosen" : "");
    button.dataset.mask = String(k);
    button.title = `Mask ${k} (key ${k})`;
    const thumb = thumbnail(k);
    const label = document.createElement("span");
    label.textContent = `${k} · IoU ${result.iou[k].toFixed(2)}`;
    button.append(thumb, label);
    button.addEventListener("click", () => pick(k as 1 | 2 | 3));
    row.append(button);
  }
}
