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

export class SamDecoder implements PromptDecoder {
  private embedding: ort.Tensor | null = null;
  private readonly maskInput: ort.Tensor;
  private readonly hasMaskInput = new ort.Tensor("float32", new Float32Array([0]), [1]);

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly embeddingShape: readonly number[],
    readonly info: DecoderInfo,
  ) {
    const [, , h, w] = embeddingShape;
    this.maskInput = new ort.Tensor("float32", new Float32Array(16 * h * w), [1, 1, 4 * h, 4 * w]);
  }

  /** Load the ONNX decoder from `url`; `ortBase` is where the bundle keeps ort's wasm files. */
  static async load(url: string, embeddingShape: readonly number[], ortBase: string): Promise<SamDecoder> {
    const t0 = performance.now();
    ort.env.wasm.wasmPaths = ortBase;
    const threads = chooseThreads();
    ort.env.wasm.numThreads = threads;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`could not fetch the decoder ${url}: HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    const info = { threads, crossOriginIsolated: !!globalThis.crossOriginIsolated, loadMs: performance.now() - t0 };
    return new SamDecoder(session, embeddingShape, info);
  }

  /** Use this image's embedding (C*h*w float32 values) for the following runs. */
  setEmbedding(values: Float32Array): void {
    const expected = this.embeddingShape.reduce((a, b) => a * b, 1);
    if (values.length !== expected) {
      throw new Error(`embedding has ${values.length} values, the decoder expects ${this.embeddingShape.join("x")}`);
    }
    this.embedding = new ort.Tensor("float32", values, this.embeddingShape as number[]);
  }

  clearEmbedding(): void {
    this.embedding = null;
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
    const feeds: Record<string, ort.Tensor> = {
      image_embeddings: this.embedding,
      point_coords: new ort.Tensor("float32", coords, [1, n, 2]),
      point_labels: new ort.Tensor("float32", labels, [1, n]),
      mask_input: this.maskInput,
      has_mask_input: this.hasMaskInput,
      orig_im_size: new ort.Tensor("float32", new Float32Array(origHw), [2]),
    };
    const t0 = performance.now();
    const out = await this.session.run(feeds, ["low_res_masks", "iou_predictions"]);
    const ms = performance.now() - t0;
    const low = out.low_res_masks;
    const dims = low.dims;
    const result: DecodeResult = {
      lowRes: low.data as Float32Array,
      numMasks: dims[1],
      lowHw: [dims[2], dims[3]],
      iou: out.iou_predictions.data as Float32Array,
      ms,
    };
    return result;
  }
}
