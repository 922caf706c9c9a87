/**
 * The decoder for SAM 2 models (`decoder_mode: "server"` in /api/model). SAM 2's decoder also reads the
 * high-res image features; when the server offers SAM 2's split ONNX decoder (sam2decoder.ts), the page
 * loads it, fetches each image's features (float16) and decodes in the page like SAM 1. Until that is
 * ready for the open image, or if it fails, or with ?sam2=server, each prompt is POSTed to the server,
 * which answers with the low-res logits and IoUs. The result is laid out as the ONNX
 * decoder's (masks 1..3 for an ambiguous prompt, mask 0 otherwise), so the annotator, its mask choices
 * and its upscaling work unchanged; only the frame of the logits differs (low_res_frame "whole-image").
 */
import { api, type DecodeRequest, type ServerDecodeResult } from "./api";
import type { Hw } from "./coords";
import type { DecodeResult, DecoderInfo, PromptDecoder } from "./decoder";
import { isAmbiguous, type PromptState } from "./prompts";
import { Sam2PageDecoder } from "./sam2decoder";

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
  private readonly serverInfo: DecoderInfo = { threads: 1, crossOriginIsolated: !!globalThis.crossOriginIsolated, loadMs: 0, where: "server" };
  private imageId: string | null = null;
  private page: Sam2PageDecoder | null = null;
  private pageError = "";
  private loading: Promise<void> | null = null;
  /** The open image's in-page preparation (features + image graph); resolves true when it succeeded. */
  private pageReady: Promise<boolean> = Promise.resolve(false);
  private usedPage = false;

  /** `decodeUrl`: ModelInfo.decode_url, a template with "{id}". */
  constructor(private readonly decodeUrl: string) {
    this.publish();
  }

  /** Load SAM 2's page decoder, on the first image opened (not at page load: video mode never needs it,
   * and the server exports it on first request, which costs CPU that other work would wait for). */
  private load(): Promise<void> {
    if (this.loading) return this.loading;
    const t0 = performance.now();
    if (new URLSearchParams(location.search).get("sam2") === "server") {
      this.pageError = "server decoding asked for (?sam2=server)";
      this.loading = Promise.resolve();
    } else {
      this.loading = Sam2PageDecoder.load(new URL("./ort/", document.baseURI).href)
        .then((d) => {
          this.page = d;
          this.serverInfo.loadMs = performance.now() - t0;
        })
        .catch((e) => {
          this.pageError = String(e);
        })
        .finally(() => this.publish());
    }
    return this.loading;
  }

  /** Where the latest decode ran: the latency line says "on the server" only when it did. */
  get info(): DecoderInfo {
    if (!this.usedPage) return this.serverInfo;
    return { threads: this.page!.threads, crossOriginIsolated: this.serverInfo.crossOriginIsolated, loadMs: this.serverInfo.loadMs, graph: "split" };
  }

  private publish(): void {
    window.__samkitDecoder = {
      info: this.page ? { ...this.serverInfo, where: undefined, graph: "split", threads: this.page.threads }
        : { ...this.serverInfo, splitError: this.pageError || "loading SAM 2's page decoder" },
      prepareMs: null,
    };
    (window.__samkitDecoder as { sam2?: object }).sam2 = { page: !!this.page, error: this.pageError, prepareMs: this.page?.prepareMs ?? null, featureBytes: this.page?.featureBytes ?? 0 };
  }

  /** Decode prompts on this image from now on (its features are cached on the server). */
  setImage(id: string): void {
    this.imageId = id;
    this.pageReady = this.load().then(async () => {
      if (!this.page || this.imageId !== id) return false;
      try {
        await this.page.setImage(id);
        return true;
      } catch (e) {
        this.pageError = `features of image ${id}: ${e}`;
        return false;
      } finally {
        this.publish();
      }
    });
  }

  clearEmbedding(): void {
    this.imageId = null;
    this.page?.clear();
    this.pageReady = Promise.resolve(false);
  }

  get hasEmbedding(): boolean {
    return this.imageId !== null;
  }

  /** `origHw` maps image px to SAM 2's input frame in the page; the server takes image pixels itself. */
  async run(prompt: PromptState, _scale: number, origHw: Hw): Promise<DecodeResult> {
    if (this.imageId === null) throw new Error("no image set for the server decoder");
    const id = this.imageId;
    if (this.page && (await this.pageReady) && this.imageId === id) {
      try {
        const result = await this.page.run(prompt, origHw);
        this.usedPage = true;
        return result;
      } catch (e) {
        this.pageError = `decoding in the page failed, decoding on the server: ${e}`;
        this.page = null; // fall back for good: a broken session does not heal
        this.publish();
      }
    }
    this.usedPage = false;
    const t0 = performance.now();
    const answer = await api.decode(this.decodeUrl, id, serverPrompt(prompt));
    return onnxLayout(answer, performance.now() - t0); // round trip, as the user waits for it
  }
}
