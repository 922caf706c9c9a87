/**
 * SAM's prompt encoder + mask decoder running in the page with onnxruntime-web (wasm backend).
 *
 * The ONNX model has the official SAM export's interface (see notes/web-api.md):
 *   image_embeddings [1,C,h,w], point_coords [1,N,2] (model-input frame), point_labels [1,N],
 *   mask_input [1,1,4h,4w], has_mask_input [1], orig_im_size [2] (H, W)
 *   -> masks [1,M,H,W] logits, iou_predictions [1,M], low_res_masks [1,M,4h,4w]  (M = 4: index 0 is
 *   the single-mask output, 1..3 the ambiguity-aware ones).
 * The page asks only for low_res_masks and iou_predictions: onnxruntime then skips the graph's
 * upscaling of all M masks to full size, and the page upscales just the mask it shows (upscale.ts,
 * the same arithmetic as the model's postprocessing).
 *
 * When the server offers the split decoder beside it (decoder-image.onnx + decoder-prompt.onnx, see
 * src/samkit/export/decoder_split.py), the page runs that instead: the image graph once per image
 * (setEmbedding starts it, then warms the prompt graph with one decode so the first click does not pay
 * for onnxruntime's first-run set-up), and the prompt graph per click, which returns the same
 * low_res_masks / iou_predictions with the image-only work taken out. If the split files are
 * missing or fail to load, the official decoder runs as before.
 */
import * as ort from "onnxruntime-web/wasm";

import { decoderPoints, type PromptState } from "./prompts";
import type { Hw } from "./coords";

export interface DecodeResult {
  /** M x 4h x 4w low-res logits, row-major (before the upscaling to image size). */
  lowRes: Float32Array;
  numMasks: number;
  lowHw: Hw;
  /** Predicted IoU per mask (M). */
  iou: Float32Array;
  /** Milliseconds spent in session.run (feeds to outputs, as the page measures it). */
  ms: number;
}

export interface DecoderInfo {
  threads: number;
  crossOriginIsolated: boolean;
  loadMs: number;
  /** Where decoding runs, for the latency line: absent = in the page (onnxruntime-web). */
  where?: "server";
  /** Which graph the page runs: the split pair (image once + prompt per click) or the official one. */
  graph?: "split" | "official";
  /** Why the split decoder is not used (when graph is "official"). */
  splitError?: string;
}

/**
 * What the annotator needs from a decoder: SamDecoder (SAM 1, in the page) or ServerDecoder (SAM 2,
 * serverdecoder.ts). Both return the ONNX model's layout (mask 0 single, 1..3 the ambiguity-aware ones).
 */
export interface PromptDecoder {
  readonly info: DecoderInfo;
  readonly hasEmbedding: boolean;
  clearEmbedding(): void;
  run(prompt: PromptState, scale: number, origHw: Hw): Promise<DecodeResult>;
}

/** Threads for the wasm backend: several only when the page is cross-origin isolated. */
export function chooseThreads(): number {
  const override = new URLSearchParams(location.search).get("threads");
  if (override && /^\d+$/.test(override)) return Math.max(1, parseInt(override, 10));
  if (!globalThis.crossOriginIsolated) return 1; // SharedArrayBuffer (wasm threads) needs isolation
  const cores = navigator.hardwareConcurrency || 1;
  return Math.max(1, Math.min(4, Math.ceil(cores / 2)));
}

/**
 * Whether onnxruntime's worker threads spin-wait after a run (onnxruntime's default) or sleep. Spinning
 * shaves a wake-up off each parallel op, but the spinning workers keep the cores busy after the decode,
 * while the page draws the mask (and on this shared 2-core machine while other processes run): measured
 * interleaved there, sleeping workers gave both the faster decode and the faster draw at 2 threads
 * (docs/benchmarks.md). So they sleep; `?spin=1` restores onnxruntime's default.
 */
export function spinning(): boolean {
  return new URLSearchParams(location.search).get("spin") === "1";
}

/** The split decoder's files, beside the official decoder's URL (.../decoder.onnx). */
export function splitUrls(url: string): { image: string; prompt: string } {
  const base = new URL(url, location.href);
  const at = (name: string) => new URL(base.pathname.replace(/decoder\.onnx$/, name) + base.search, base).href;
  return { image: at("decoder-image.onnx"), prompt: at("decoder-prompt.onnx") };
}

async function fetchModel(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch the decoder ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

declare global {
  interface Window {
    /** What the page's decoder is (graph, why not split) and its latest once-per-image timings. */
    __samkitDecoder?: { info: DecoderInfo; prepareMs: [number, number] | null };
  }
}

interface SplitSessions {
  image: ort.InferenceSession;
  prompt: ort.InferenceSession;
}

export class SamDecoder implements PromptDecoder {
  private embedding: ort.Tensor | null = null;
  private readonly maskInput: ort.Tensor;
  private readonly hasMaskInput = new ort.Tensor("float32", new Float32Array([0]), [1]);
  /** Split mode: the image graph's outputs for the current embedding (resolves once computed). */
  private side: Promise<Record<string, ort.Tensor>> | null = null;
  /** Times of the latest image's once-per-image step, for the stats: [image graph ms, warm-up decode ms]. */
  prepareMs: [number, number] | null = null;

  private constructor(
    private readonly session: ort.InferenceSession | null,
    private readonly split: SplitSessions | null,
    readonly embeddingShape: readonly number[],
    readonly info: DecoderInfo,
  ) {
    const [, , h, w] = embeddingShape;
    this.maskInput = new ort.Tensor("float32", new Float32Array(16 * h * w), [1, 1, 4 * h, 4 * w]);
    window.__samkitDecoder = { info, prepareMs: null };
  }

  /** Load the decoder from `url` (the split pair beside it when the server has one); `ortBase` is where
   * the bundle keeps ort's wasm files. */
  static async load(url: string, embeddingShape: readonly number[], ortBase: string): Promise<SamDecoder> {
    const t0 = performance.now();
    ort.env.wasm.wasmPaths = ortBase;
    const threads = chooseThreads();
    ort.env.wasm.numThreads = threads;
    const options: ort.InferenceSession.SessionOptions = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    if (!spinning()) options.extra = { session: { intra_op: { allow_spinning: "0" } } };
    const base = { threads, crossOriginIsolated: !!globalThis.crossOriginIsolated };
    let splitError = "";
    if (new URLSearchParams(location.search).get("decoder") !== "official") {
      try {
        const urls = splitUrls(url);
        const [imageBytes, promptBytes] = await Promise.all([fetchModel(urls.image), fetchModel(urls.prompt)]);
        const image = await ort.InferenceSession.create(imageBytes, options);
        const prompt = await ort.InferenceSession.create(promptBytes, options);
        const info: DecoderInfo = { ...base, loadMs: performance.now() - t0, graph: "split" };
        return new SamDecoder(null, { image, prompt }, embeddingShape, info);
      } catch (e) {
        splitError = String(e); // fall back to the official decoder below
      }
    } else {
      splitError = "the official decoder was asked for (?decoder=official)";
    }
    const session = await ort.InferenceSession.create(await fetchModel(url), options);
    const info: DecoderInfo = { ...base, loadMs: performance.now() - t0, graph: "official", splitError };
    return new SamDecoder(session, null, embeddingShape, info);
  }

  /** Use this image's embedding (C*h*w float32 values) for the following runs. With the split decoder
   * this also starts the once-per-image step (run() waits for it). */
  setEmbedding(values: Float32Array): void {
    const expected = this.embeddingShape.reduce((a, b) => a * b, 1);
    if (values.length !== expected) {
      throw new Error(`embedding has ${values.length} values, the decoder expects ${this.embeddingShape.join("x")}`);
    }
    this.embedding = new ort.Tensor("float32", values, this.embeddingShape as number[]);
    if (this.split) {
      const side = this.prepare(this.split, this.embedding);
      side.catch(() => undefined); // reported by the run() that awaits it
      this.side = side;
    }
  }

  /** The image graph, then one throw-away decode at the centre (warms the prompt graph). */
  private async prepare(split: SplitSessions, embedding: ort.Tensor): Promise<Record<string, ort.Tensor>> {
    await Promise.resolve(); // let the caller finish first
    const t0 = performance.now();
    const side = await split.image.run({ image_embeddings: embedding });
    const t1 = performance.now();
    const [, , h, w] = this.embeddingShape;
    const size = 4 * Math.max(h, w) * 4; // img_size (the embedding grid is img_size / 16)
    const warm = { ...this.promptFeeds(side, new Float32Array([size / 2, size / 2, 0, 0]), new Float32Array([1, -1]), 2), orig_im_size: new ort.Tensor("float32", new Float32Array([size, size]), [2]) };
    await split.prompt.run(warm, ["low_res_masks", "iou_predictions"]);
    this.prepareMs = [t1 - t0, performance.now() - t1];
    if (window.__samkitDecoder) window.__samkitDecoder.prepareMs = this.prepareMs;
    return side;
  }

  private promptFeeds(side: Record<string, ort.Tensor>, coords: Float32Array, labels: Float32Array, n: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {
      point_coords: new ort.Tensor("float32", coords, [1, n, 2]),
      point_labels: new ort.Tensor("float32", labels, [1, n]),
    };
    for (const name of this.split!.prompt.inputNames) if (name in side) feeds[name] = side[name];
    return feeds;
  }

  clearEmbedding(): void {
    this.embedding = null;
    this.side = null;
  }

  get hasEmbedding(): boolean {
    return this.embedding !== null;
  }

  /**
   * Run the decoder. `scale` maps image px to the model-input frame; `origHw` is the image size
   * (H, W), the decoder's orig_im_size.
   */
  async run(prompt: PromptState, scale: number, origHw: Hw): Promise<DecodeResult> {
    if (!this.embedding) throw new Error("no image embedding loaded");
    const { coords, labels, n } = decoderPoints(prompt, scale);
    const origImSize = new ort.Tensor("float32", new Float32Array(origHw), [2]);
    let session: ort.InferenceSession;
    let feeds: Record<string, ort.Tensor>;
    if (this.split) {
      const side = await this.side!;
      session = this.split.prompt;
      feeds = { ...this.promptFeeds(side, coords, labels, n), orig_im_size: origImSize };
    } else {
      session = this.session!;
      feeds = {
        image_embeddings: this.embedding,
        point_coords: new ort.Tensor("float32", coords, [1, n, 2]),
        point_labels: new ort.Tensor("float32", labels, [1, n]),
        mask_input: this.maskInput,
        has_mask_input: this.hasMaskInput,
        orig_im_size: origImSize,
      };
    }
    const t0 = performance.now();
    const out = await session.run(feeds, ["low_res_masks", "iou_predictions"]);
    const ms = performance.now() - t0;
    const low = out.low_res_masks;
    const dims = low.dims;
    return {
      lowRes: low.data as Float32Array,
      numMasks: dims[1],
      lowHw: [dims[2], dims[3]],
      iou: out.iou_predictions.data as Float32Array,
      ms,
    };
  }
}
