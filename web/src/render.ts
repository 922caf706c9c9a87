/**
 * Canvas rendering: the image on one canvas, and on a canvas stacked over it the accepted objects,
 * the current mask, and the prompts (dots and box). Masks are painted once into small canvases at
 * their own resolution (one pass over the pixels, outline included) and then scaled by drawImage,
 * which the GPU compositor does for free; redrawing the overlay never touches mask pixels again.
 */
import { fitSize, imageToDisplay, type Hw } from "./coords";
import type { BoxPrompt, PromptState } from "./prompts";

export type Rgb = [number, number, number];

export const CURRENT_MASK_RGB: Rgb = [30, 144, 255];
const PALETTE: Rgb[] = [
  [230, 25, 75], [60, 180, 75], [255, 200, 25], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128],
  [220, 190, 255], [170, 110, 40], [128, 0, 0], [170, 255, 195], [128, 128, 0],
];

export function objectColor(index: number): Rgb {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

function packRgba([r, g, b]: Rgb, a: number): number {
  // ImageData is RGBA bytes; a Uint32Array view over it is little-endian, so ABGR in a 32-bit word.
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/**
 * Paint a binary mask (row-major h x w bytes, non-zero inside) into the pixels `px` (cleared first):
 * a translucent fill plus an opaque 1-px outline where a 4-neighbour is outside. Plain typed-array
 * loops (no per-pixel closure calls): this runs for every click and hover frame.
 */
function paintPixels(px: Uint32Array, mask: Uint8Array, hw: Hw, rgb: Rgb, fillAlpha: number): void {
  const [h, w] = hw;
  const fill = packRgba(rgb, fillAlpha);
  const edge = packRgba(rgb, 255);
  px.fill(0);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    const rowEdge = y === 0 || y === h - 1;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      if (mask[i] === 0) continue;
      const border = rowEdge || x === 0 || x === w - 1 ||
        mask[i - 1] === 0 || mask[i + 1] === 0 || mask[i - w] === 0 || mask[i + w] === 0;
      px[i] = border ? edge : fill;
    }
  }
}

function paintMask(mask: Uint8Array, hw: Hw, rgb: Rgb, fillAlpha: number): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.width = hw[1];
  canvas.height = hw[0];
  const ctx = canvas.getContext("2d")!;
  const data = ctx.createImageData(hw[1], hw[0]);
  paintPixels(new Uint32Array(data.data.buffer), mask, hw, rgb, fillAlpha);
  ctx.putImageData(data, 0, 0);
  return canvas;
}

/** Canvas for a binary row-major mask. */
export function binaryCanvas(mask: Uint8Array, hw: Hw, rgb: Rgb, alpha = 100): HTMLCanvasElement {
  return paintMask(mask, hw, rgb, alpha);
}

/**
 * One canvas repainted in place for a mask that changes every frame (the current click / hover mask):
 * no canvas, context or ImageData allocated per frame. The canvas it returns is the same each time.
 */
export class MaskPainter {
  readonly canvas = document.createElement("canvas");
  private data: ImageData | null = null;
  private px = new Uint32Array(0);

  paint(mask: Uint8Array, hw: Hw, rgb: Rgb, fillAlpha = 110): HTMLCanvasElement {
    const [h, w] = hw;
    const ctx = this.canvas.getContext("2d")!;
    if (!this.data || this.data.width !== w || this.data.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.data = ctx.createImageData(w, h);
      this.px = new Uint32Array(this.data.data.buffer);
    }
    paintPixels(this.px, mask, hw, rgb, fillAlpha);
    ctx.putImageData(this.data, 0, 0);
    return this.canvas;
  }
}

export interface OverlayScene {
  /** Accepted objects, each already painted; `selected` gets a stronger look. */
  objects: { canvas: HTMLCanvasElement; selected: boolean; visible: boolean }[];
  currentMask: HTMLCanvasElement | null;
  /** True while the mask shown comes from the hover preview, not from committed prompts. */
  preview: boolean;
  prompt: PromptState;
  dragBox: BoxPrompt | null;
}

/** Longest side of a canvas backing store: zooming far in must not allocate huge bitmaps. */
const MAX_BACKING_PX = 4096;
const MAX_ZOOM = 16;

/**
 * The two stacked canvases inside the stage element. At zoom 1 the image fits the stage; zooming
 * scales the canvases (their backing stores follow, up to MAX_BACKING_PX, so the image stays sharp)
 * and panning moves them. cssW x cssH is the displayed image size in CSS px.
 */
export class Stage {
  readonly imageCanvas: HTMLCanvasElement;
  readonly overlay: HTMLCanvasElement;
  private readonly stack: HTMLElement;
  private image: CanvasImageSource | null = null;
  origHw: Hw = [1, 1];
  cssW = 1;
  cssH = 1;
  zoom = 1;
  private panX = 0; // CSS px offset from the centred position
  private panY = 0;

  constructor(private readonly host: HTMLElement) {
    this.imageCanvas = host.querySelector<HTMLCanvasElement>("#image-canvas")!;
    this.overlay = host.querySelector<HTMLCanvasElement>("#overlay-canvas")!;
    this.stack = host.querySelector<HTMLElement>("#canvas-stack")!;
  }

  setImage(image: CanvasImageSource | null, origHw: Hw): void {
    this.image = image;
    this.origHw = origHw;
    this.zoom = 1;
    this.panX = this.panY = 0;
    this.layout();
  }

  /** Show another picture of the same size (the next video frame), keeping zoom and pan. */
  replaceImage(image: CanvasImageSource): void {
    this.image = image;
    this.layout();
  }

  /** Fit the canvases to the host at the current zoom and pan (call on resize); redraws the image. */
  layout(): void {
    const box = this.host.getBoundingClientRect();
    const fit = fitSize(this.origHw, box.width - 16, box.height - 16); // 8 px of margin around the image
    this.cssW = fit.width * this.zoom;
    this.cssH = fit.height * this.zoom;
    this.stack.style.left = `${(box.width - this.cssW) / 2 + this.panX}px`;
    this.stack.style.top = `${(box.height - this.cssH) / 2 + this.panY}px`;
    const scale = Math.min(window.devicePixelRatio || 1, MAX_BACKING_PX / Math.max(this.cssW, this.cssH));
    for (const c of [this.imageCanvas, this.overlay]) {
      c.style.width = `${this.cssW}px`;
      c.style.height = `${this.cssH}px`;
      c.width = Math.max(1, Math.round(this.cssW * scale));
      c.height = Math.max(1, Math.round(this.cssH * scale));
    }
    const ctx = this.imageCanvas.getContext("2d")!;
    ctx.imageSmoothingQuality = "high";
    ctx.clearRect(0, 0, this.imageCanvas.width, this.imageCanvas.height);
    if (this.image) ctx.drawImage(this.image, 0, 0, this.imageCanvas.width, this.imageCanvas.height);
  }

  /** Zoom by `factor` keeping the image point under (clientX, clientY) where it is. */
  zoomAt(clientX: number, clientY: number, factor: number): void {
    const zoom = Math.min(MAX_ZOOM, Math.max(1, this.zoom * factor));
    if (zoom === this.zoom) return;
    const box = this.host.getBoundingClientRect();
    const rect = this.overlay.getBoundingClientRect();
    const relX = (clientX - rect.left) / rect.width;
    const relY = (clientY - rect.top) / rect.height;
    const newW = (this.cssW / this.zoom) * zoom;
    const newH = (this.cssH / this.zoom) * zoom;
    this.zoom = zoom;
    if (zoom === 1) {
      this.panX = this.panY = 0;
    } else {
      this.panX = clientX - box.left - relX * newW - (box.width - newW) / 2;
      this.panY = clientY - box.top - relY * newH - (box.height - newH) / 2;
    }
    this.layout();
  }

  panBy(dx: number, dy: number): void {
    if (this.zoom === 1) return; // the whole image is visible: nothing to pan to
    this.panX += dx;
    this.panY += dy;
    this.layout();
  }

  resetView(): void {
    this.zoom = 1;
    this.panX = this.panY = 0;
    this.layout();
  }

  draw(scene: OverlayScene): void {
    const ctx = this.overlay.getContext("2d")!;
    const W = this.overlay.width;
    const H = this.overlay.height;
    const dpr = W / this.cssW;
    ctx.clearRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = false; // crisp mask edges when scaling up
    for (const o of scene.objects) {
      if (!o.visible) continue;
      ctx.globalAlpha = o.selected ? 1 : 0.75;
      ctx.drawImage(o.canvas, 0, 0, W, H);
    }
    if (scene.currentMask) {
      ctx.globalAlpha = scene.preview ? 0.7 : 1;
      ctx.drawImage(scene.currentMask, 0, 0, W, H);
    }
    ctx.globalAlpha = 1;
    const toCanvas = (x: number, y: number): [number, number] => {
      const [dx, dy] = imageToDisplay(x, y, this.cssW, this.cssH, this.origHw);
      return [dx * dpr, dy * dpr];
    };
    const box = scene.dragBox ?? scene.prompt.box;
    if (box) {
      const [x0, y0] = toCanvas(box.x0, box.y0);
      const [x1, y1] = toCanvas(box.x1, box.y1);
      ctx.lineWidth = 2 * dpr;
      ctx.setLineDash(scene.dragBox ? [6 * dpr, 4 * dpr] : []);
      ctx.strokeStyle = "rgba(255,255,255,0.95)";
      ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.setLineDash([]);
    }
    for (const p of scene.prompt.points) {
      const [x, y] = toCanvas(p.x, p.y);
      ctx.beginPath();
      ctx.arc(x, y, 5 * dpr, 0, 2 * Math.PI);
      ctx.fillStyle = p.label === 1 ? "#22c55e" : "#ef4444";
      ctx.fill();
      ctx.lineWidth = 1.5 * dpr;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    }
  }
}
