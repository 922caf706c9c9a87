/**
 * The decoder for models the page cannot run itself (SAM 2: its decoder also reads high-res image
 * features, which stay on the server): each prompt is POSTed to the server (`decoder_mode: "server"`
 * in /api/model), which answers with the low-res logits and IoUs. The result is laid out as the ONNX
 * decoder's (masks 1..3 for an ambiguous prompt, mask 0 otherwise), so the annotator, its mask choices
 * and its upscaling work unchanged; only the frame of the logits differs (low_res_frame "whole-image").
 */
import { api, type DecodeRequest, type ServerDecodeResult } from "./api";
import type { Hw } from "./coords";
import type { DecodeResult, DecoderInfo, PromptDecoder } from "./decoder";
import { isAmbiguous, type PromptState } from "./prompts";

/** The server's request body for a prompt (image pixels; three masks only for an ambiguous prompt). */
export function serverPrompt(p: PromptState): DecodeRequest {
  return {
    points: p.points.map((pt) => [pt.x, pt.y] as [number, number]),
    labels: p.points.map((pt) => pt.label),
    box: p.box ? [p.box.x0, p.box.y0, p.box.x1, p.box.y1] : null,
    multimask_output: isAmbiguous(p),
  };
}

/**
 * The ONNX decoder's layout for a server answer: K = 3 masks become masks 1..3 of M = 4, with mask 0
 * (the single-mask output, which the page never shows for an ambiguous prompt) a copy of the best one;
 * K = 1 stays M = 1 (the page shows mask 0 when M < 4).
 */
export function onnxLayout(r: ServerDecodeResult, ms: number): DecodeResult {
  const [k, h, w] = r.shape;
  const plane = h * w;
  if (r.lowRes.length !== k * plane || r.iou.length !== k) {
    throw new Error(`the server sent ${r.lowRes.length} logits and ${r.iou.length} IoUs for shape ${r.shape.join("x")}`);
  }
  if (k !== 3) return { lowRes: r.lowRes, numMasks: k, lowHw: [h, w], iou: r.iou, ms };
  let best = 0;
  for (let i = 1; i < 3; i++) if (r.iou[i] > r.iou[best]) best = i;
  const lowRes = new Float32Array(4 * plane);
  lowRes.set(r.lowRes.subarray(best * plane, (best + 1) * plane), 0);
  lowRes.set(r.lowRes, plane);
  const iou = Float32Array.from([r.iou[best], r.iou[0], r.iou[1], r.iou[2]]);
  return { lowRes, numMasks: 4, lowHw: [h, w], iou, ms };
}

export class ServerDecoder implements PromptDecoder {
  readonly info: DecoderInfo = { threads: 1, crossOriginIsolated: !!globalThis.crossOriginIsolated, loadMs: 0, where: "server" };
  private imageId: string | null = null;

  /** `decodeUrl`: ModelInfo.decode_url, a template with "{id}". */
  constructor(private readonly decodeUrl: string) {}

  /** Decode prompts on this image from now on (its features are cached on the server). */
  setImage(id: string): void {
    this.imageId = id;
  }

  clearEmbedding(): void {
    this.imageId = null;
  }

  get hasEmbedding(): boolean {
    return this.imageId !== null;
  }

  /** `scale` and `origHw` are unused: the server takes image pixels and knows the image's size. */
  async run(prompt: PromptState, _scale: number, _origHw: Hw): Promise<DecodeResult> {
    if (this.imageId === null) throw new Error("no image set for the server decoder");
    const t0 = performance.now();
    const answer = await api.decode(this.decodeUrl, this.imageId, serverPrompt(prompt));
    return onnxLayout(answer, performance.now() - t0); // round trip, as the user waits for it
  }
}
