/**
 * Mouse input on the overlay canvas, turned into prompt gestures in the image frame:
 * a click (left = foreground; right, Alt or Shift = background), a box drag (left button moved more
 * than a few pixels), and hover positions for the live preview.
 */
import { displayToImage, type Hw } from "./coords";
import type { BoxPrompt } from "./prompts";

export interface PointerHandlers {
  click(x: number, y: number, label: 0 | 1): void;
  dragging(box: BoxPrompt | null): void;
  box(box: BoxPrompt): void;
  hover(x: number, y: number): void;
  leave(): void;
  /** Drag with the middle button or with Space held: move the view by (dx, dy) CSS px. */
  pan(dx: number, dy: number): void;
  /** Mouse wheel over the image: zoom by `factor` around (clientX, clientY). */
  zoom(clientX: number, clientY: number, factor: number): void;
}

/** Movement (CSS px) below which a press is a click, not a drag. */
const DRAG_THRESHOLD_PX = 5;

export function bindPointer(canvas: HTMLCanvasElement, frame: () => { cssW: number; cssH: number; origHw: Hw }, h: PointerHandlers): void {
  let down: { xCss: number; yCss: number; background: boolean; dragging: boolean } | null = null;
  let panFrom: { x: number; y: number } | null = null;
  let spaceHeld = false;
  window.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement | null;
    if (e.key === " " && !(t && (t.tagName === "INPUT" || t.tagName === "BUTTON"))) {
      spaceHeld = true;
      e.preventDefault(); // no page scroll
    }
  });
  window.addEventListener("keyup", (e) => {
    if (e.key === " ") spaceHeld = false;
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const step = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY; // lines -> px
    h.zoom(e.clientX, e.clientY, Math.exp(-step * 0.002));
  }, { passive: false });

  const toImage = (e: MouseEvent): [number, number] => {
    const f = frame();
    const rect = canvas.getBoundingClientRect();
    return displayToImage(e.clientX - rect.left, e.clientY - rect.top, f.cssW, f.cssH, f.origHw);
  };
  const boxFrom = (e: MouseEvent): BoxPrompt => {
    const f = frame();
    const [x0, y0] = displayToImage(down!.xCss, down!.yCss, f.cssW, f.cssH, f.origHw);
    const [x1, y1] = toImage(e);
    return { x0: Math.min(x0, x1), y0: Math.min(y0, y1), x1: Math.max(x0, x1), y1: Math.max(y0, y1) };
  };

  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button === 1 || (e.button === 0 && spaceHeld)) {
      panFrom = { x: e.clientX, y: e.clientY };
      document.body.classList.add("panning");
      canvas.setPointerCapture(e.pointerId);
      e.preventDefault();
      return;
    }
    if (e.button !== 0 && e.button !== 2) return;
    const rect = canvas.getBoundingClientRect();
    down = {
      xCss: e.clientX - rect.left,
      yCss: e.clientY - rect.top,
      background: e.button === 2 || e.altKey || e.shiftKey,
      dragging: false,
    };
    canvas.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (panFrom) {
      h.pan(e.clientX - panFrom.x, e.clientY - panFrom.y);
      panFrom = { x: e.clientX, y: e.clientY };
      return;
    }
    if (!down) {
      const [x, y] = toImage(e);
      h.hover(x, y);
      return;
    }
    const rect = canvas.getBoundingClientRect();
    const dist = Math.hypot(e.clientX - rect.left - down.xCss, e.clientY - rect.top - down.yCss);
    if (!down.background && (down.dragging || dist > DRAG_THRESHOLD_PX)) {
      down.dragging = true;
      h.dragging(boxFrom(e));
    }
  });
  canvas.addEventListener("pointerup", (e) => {
    if (panFrom) {
      panFrom = null;
      document.body.classList.remove("panning");
      return;
    }
    if (!down) return;
    const wasDown = down;
    if (wasDown.dragging) {
      const box = boxFrom(e);
      down = null;
      h.dragging(null);
      if (box.x1 - box.x0 >= 1 && box.y1 - box.y0 >= 1) h.box(box);
      return;
    }
    down = null;
    const [x, y] = toImage(e);
    h.click(x, y, wasDown.background ? 0 : 1);
  });
  canvas.addEventListener("pointercancel", () => {
    down = null;
    panFrom = null;
    document.body.classList.remove("panning");
    h.dragging(null);
  });
  canvas.addEventListener("pointerleave", () => {
    if (!down) h.leave();
  });
}
