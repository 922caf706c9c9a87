/**
 * SAM 2's decoder in the page (onnxruntime-web), split like SAM 1's (src/samkit/export/sam2_decoder_split.py):
 * per image, the server's features (image_embed + both high-res maps, float16, GET /api/images/{id}/features)
 * go through the image graph once, then a warm-up decode; per click, the prompt graph returns
 * low_res_masks [1, 4, 4h, 4w] (mask 0 = SAM2ImagePredictor's multimask_output=False answer, 1..3 its
 * three masks; whole-image frame), iou_predictions [1, 4] and object_score_logits [1, 1].
 * serverdecoder.ts uses this when it loads, and decodes on the server otherwise.
 */
import * as ort from "onnxruntime-web/wasm";

import { api, check, getJson } from "./api";
import type { Hw } from "./coords";
import { chooseThreads, type DecodeResult } from "./decoder";
import { float16BytesToFloat32 } from "./float16";
import type { PromptState } from "./prompts";

const OUTPUTS = ["low_res_masks", "iou_predictions", "object_score_logits"];

/** The prompt graph's points: image px -> the squashed model-input frame, box corners (2, 3), one padding point. */
export function sam2Points(p: PromptState, origHw: Hw, imgSize: number): { coords: Float32Array; labels: Float32Array; n: number } {
  const sx = imgSize / origHw[1], sy = imgSize / origHw[0];
  const n = p.points.length + (p.box ? 2 : 0) + 1;
  const coords = new Float32Array(2 * n);
  const labels = new Float32Array(n);
  p.points.forEach((pt, i) => {
    coords.set([pt.x * sx, pt.y * sy], 2 * i);
    labels[i] = pt.label;
  });
  let k = p.points.length;
  if (p.box) {
    coords.set([p.box.x0 * sx, p.box.y0 * sy, p.box.x1 * sx, p.box.y1 * sy], 2 * k);
    labels[k] = 2;
    labels[k + 1] = 3;
    k += 2;
  }
  labels[k] = -1; // coords already (0, 0)
  return { coords, labels, n };
}

export class Sam2PageDecoder {
  private side: Promise<Record<string, ort.Tensor>> | null = null;
  prepareMs: [number, number, number] | null = null; // features fetch + convert, image graph, warm-up decode
  featureBytes = 0;

  private constructor(private readonly image: ort.InferenceSession, private readonly prompt: ort.InferenceSession,
                      readonly imgSize: number, readonly threads: number) {}

  static async load(ortBase: string): Promise<Sam2PageDecoder> {
    const model = await getJson<{ img_size: number; family?: string }>("/api/model", "reading the model");
    ort.env.wasm.wasmPaths = ortBase;
    const threads = chooseThreads();
    ort.env.wasm.numThreads = threads;
    const options: ort.InferenceSession.SessionOptions = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const bytes = async (part: string) => {
      const r = await check(await fetch(api.url(`/models/sam2-decoder-${part}.onnx`)), `fetching SAM 2's ${part} graph`);
      return new Uint8Array(await r.arrayBuffer());
    };
    const [imageBytes, promptBytes] = await Promise.all([bytes("image"), bytes("prompt")]);
    const image = await ort.InferenceSession.create(imageBytes, options);
    const prompt = await ort.InferenceSession.create(promptBytes, options);
    return new Sam2PageDecoder(image, prompt, model.img_size, threads);
  }

  /** Fetch this image's features and run the image graph + one warm-up decode (resolves when ready). */
  setImage(id: string): Promise<void> {
    const side = this.prepare(id);
    this.side = side;
    return side.then(() => undefined);
  }

  clear(): void {
    this.side = null;
  }

  private async prepare(id: string): Promise<Record<string, ort.Tensor>> {
    const t0 = performance.now();
    const r = await check(await fetch(api.url(`/api/images/${encodeURIComponent(id)}/features`)), "fetching SAM 2's features");
    const shapes = (r.headers.get("X-Feature-Shapes") ?? "").split(";").map((s) => s.split(",").map((v) => parseInt(v, 10)));
    const buffer = await r.arrayBuffer();
    this.featureBytes = buffer.byteLength;
    const values = float16BytesToFloat32(buffer);
    const names = ["image_embed", "feat_s0", "feat_s1"];
    const feeds: Record<string, ort.Tensor> = {};
    let offset = 0;
    shapes.forEach((shape, i) => {
      const size = shape.reduce((a, b) => a * b, 1);
      feeds[names[i]] = new ort.Tensor("float32", values.subarray(offset, offset + size), shape);
      offset += size;
    });
    if (shapes.length !== 3 || offset !== values.length) throw new Error(`unexpected SAM 2 features ${shapes.join(" ; ")}`);
    const t1 = performance.now();
    const side = await this.image.run(feeds);
    const t2 = performance.now();
    const c = this.imgSize / 2;
    await this.prompt.run({ ...this.promptFeeds(side, new Float32Array([c, c, 0, 0]), new Float32Array([1, -1]), 2) }, OUTPUTS);
    this.prepareMs = [t1 - t0, t2 - t1, performance.now() - t2];
    return side;
  }

  private promptFeeds(side: Record<string, ort.Tensor>, coords: Float32Array, labels: Float32Array, n: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {
      point_coords: new ort.Tensor("float32", coords, [1, n, 2]),
      point_labels: new ort.Tensor("float32", labels, [1, n]),
    };
    for (const name of this.prompt.inputNames) if (name in side) feeds[name] = side[name];
    return feeds;
  }

  /** Whether the current image's features are loaded (a run would not wait). */
  async ready(): Promise<boolean> {
    if (!this.side) return false;
    try {
      await this.side;
      return true;
    } catch {
      return false;
    }
  }

  async run(prompt: PromptState, origHw: Hw): Promise<DecodeResult & { objectScore: number }> {
    if (!this.side) throw new Error("no SAM 2 features loaded");
    const side = await this.side;
    const { coords, labels, n } = sam2Points(prompt, origHw, this.imgSize);
    const t0 = performance.now();
    const out = await this.prompt.run(this.promptFeeds(side, coords, labels, n), OUTPUTS);
    const ms = performance.now() - t0;
    const dims = out.low_res_masks.dims;
    return {
      lowRes: out.low_res_masks.data as Float32Array,
      numMasks: dims[1],
      lowHw: [dims[2], dims[3]],
      iou: out.iou_predictions.data as Float32Array,
      ms,
      objectScore: (out.object_score_logits.data as Float32Array)[0],
    };
  }
}
