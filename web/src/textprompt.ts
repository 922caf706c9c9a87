/**
 * Text prompts in the annotator (docs/text-prompts.md). The text tower runs on the server (the page's
 * ONNX decoder has no text input), so a prompt that carries a text is sent, with its clicks/box, to
 * POST /api/images/{id}/decode_text, whose answer has the layout of POST .../decode: it is laid out as
 * the ONNX decoder's (serverdecoder.ts onnxLayout) and the annotator shows, upscales and accepts it
 * like any other mask. Prompts without a text go to the page's decoder as before.
 *
 * The text is part of the prompt state (so undo, clear and accept treat it like a click); prompts.ts's
 * state has no text field, so it rides along as an extra property that the helpers here keep.
 */
import { api, ApiError, type TextPromptInfo } from "./api";
import type { Hw } from "./coords";
import type { DecodeResult, DecoderInfo, PromptDecoder } from "./decoder";
import { isAmbiguous, isEmpty as hasNoClicks, type PromptState } from "./prompts";
import { onnxLayout, serverPrompt } from "./serverdecoder";

type TextPromptState = PromptState & { readonly text?: string };

/** The prompt's text ("" when none). */
export function promptText(p: PromptState): string {
  return (p as TextPromptState).text ?? "";
}

/** The prompt with `text` (trimmed; "" drops the text), clicks and box unchanged. */
export function withText(p: PromptState, text: string): PromptState {
  const trimmed = text.trim();
  const next: TextPromptState = trimmed ? { points: p.points, box: p.box, text: trimmed } : { points: p.points, box: p.box };
  return next;
}

/** `next` (an edit of `p` by prompts.ts, which drops unknown fields) with `p`'s text kept. */
export function keepText(p: PromptState, next: PromptState): PromptState {
  return withText(next, promptText(p));
}

/** prompts.ts's isEmpty, with a text alone counting as a prompt. */
export function isEmptyWithText(p: PromptState): boolean {
  return hasNoClicks(p) && !promptText(p);
}

/** True when a decode failed because the server refused the prompt (unknown word, no text path). */
export function isRefusedText(p: PromptState, e: unknown): boolean {
  return promptText(p) !== "" && e instanceof ApiError && e.status === 422;
}

/** The page's decoder, with prompts that carry a text decoded on the server instead. */
export class TextAwareDecoder implements PromptDecoder {
  private usedServer = false;

  /** `imageId`: the open image's id (its features are cached on the server). */
  constructor(private readonly inner: PromptDecoder, private readonly imageId: () => string | null) {}

  /** The latency line says "on the server" after a text decode. */
  get info(): DecoderInfo {
    return this.usedServer ? { ...this.inner.info, where: "server" } : this.inner.info;
  }

  get hasEmbedding(): boolean {
    return this.inner.hasEmbedding;
  }

  clearEmbedding(): void {
    this.inner.clearEmbedding();
  }

  async run(prompt: PromptState, scale: number, origHw: Hw): Promise<DecodeResult> {
    const text = promptText(prompt);
    this.usedServer = false;
    if (!text) return this.inner.run(prompt, scale, origHw);
    const id = this.imageId();
    if (id === null) throw new Error("no image open for the text prompt");
    // A text alone is ambiguous like one click: three masks, the best shown (onnxLayout puts it at 0).
    const body = { ...serverPrompt(prompt), text, multimask_output: isAmbiguous(prompt) || hasNoClicks(prompt) };
    const t0 = performance.now();
    const answer = await api.decode("/api/images/{id}/decode_text", id, body, "decoding the text on the server");
    this.usedServer = true;
    return onnxLayout(answer, performance.now() - t0); // round trip, as the user waits for it
  }
}

/**
 * The text field of the prompt panel: shown only when the model has a text path, with the names of a
 * closed vocabulary as suggestions. Enter or the button asks for the text; `show` keeps the field in
 * step with the prompt (cleared by Clear/accept/undo) without overwriting what is being typed.
 */
export class TextPromptField {
  private shownText = "";

  constructor(
    private readonly el: { panel: HTMLElement; input: HTMLInputElement; button: HTMLButtonElement; options: HTMLDataListElement },
    info: TextPromptInfo | null,
    private readonly submit: (text: string) => void,
  ) {
    el.panel.hidden = !info?.available;
    if (!info?.available) return;
    el.options.replaceChildren(...info.vocabulary.map((name) => Object.assign(document.createElement("option"), { value: name })));
    el.input.placeholder = info.kind === "word" ? `one of ${info.vocabulary.length} names, e.g. ${info.vocabulary[0] ?? "dog"}` : "a phrase";
    el.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.submit(el.input.value);
      if (e.key === "Enter" || e.key === "Escape") el.input.blur(); // back to the shortcuts
    });
    el.button.addEventListener("click", () => this.submit(el.input.value));
  }

  /** The present prompt's text: the field follows it when it changed (not on every redraw). */
  show(text: string): void {
    if (text === this.shownText) return;
    this.shownText = text;
    this.el.input.value = text;
  }
}
