/**
 * The engine's side panel (it replaces the image list): the mode switch, the project and model,
 * the current image with its stored masks (stage 2: a reject / restore button per proposal), the
 * "next image" button, and the review controls with the rejection rate.
 */
import type { EngineMask, EngineSession, ReviewStats } from "./engineapi";

/** What the page gives the engine modes: its status line and progress bar. */
export interface PageUi {
  status(text: string, error?: boolean): void;
  progress(label: string | null, fraction?: number): void;
}

export type EngineMode = "assisted" | "semi" | "review";

export const MODE_LABELS: Record<EngineMode, string> = {
  assisted: "Assisted (stage 1)",
  semi: "Semi-automatic (stage 2)",
  review: "Review (stage 3)",
};

export interface EnginePanel {
  root: HTMLElement;
  info: HTMLElement;
  image: HTMLElement;
  masks: HTMLUListElement;
  next: HTMLButtonElement;
  review: HTMLElement;
  reviewAccept: HTMLButtonElement;
  reviewReject: HTMLButtonElement;
  rate: HTMLElement;
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

/** Build the panel inside `host` (its children are replaced); `switchTo` reloads the page in a mode. */
export function buildPanel(host: HTMLElement, mode: EngineMode, switchTo: (m: EngineMode) => void): EnginePanel {
  const modes = el("div", { className: "engine-modes" });
  for (const m of Object.keys(MODE_LABELS) as EngineMode[]) {
    const b = el("button", { textContent: MODE_LABELS[m], className: m === mode ? "primary" : "" });
    b.dataset.mode = m;
    b.addEventListener("click", () => m !== mode && switchTo(m));
    modes.append(b);
  }
  const panel: EnginePanel = {
    root: el("div", { id: "engine-panel" }),
    info: el("div", { id: "engine-info", className: "meta" }),
    image: el("div", { id: "engine-image", className: "meta" }),
    masks: el("ul", { id: "engine-masks" }),
    next: el("button", { id: "engine-next", className: "primary", textContent: "Next image (N)", title: "N" }),
    review: el("div", { id: "engine-review" }),
    reviewAccept: el("button", { id: "review-accept", className: "primary", textContent: "Accept (A)" }),
    reviewReject: el("button", { id: "review-reject", textContent: "Reject (R)" }),
    rate: el("div", { id: "review-rate", className: "meta" }),
  };
  panel.review.append(el("div", { className: "hint", textContent: "Is the highlighted automatic mask a good object mask?" }),
    el("div", { className: "buttons" }, panel.reviewAccept, panel.reviewReject), panel.rate);
  const hint = mode === "semi"
    ? "Coloured masks are the model's proposals: they are accepted unless you click one to reject it. Hatched: no mask yet — click what the model missed, A to accept. N accepts the rest."
    : mode === "assisted"
      ? "Click an object (left = add, right = remove, drag = box), A to accept; N when the image is done."
      : "";
  panel.root.append(el("h2", { textContent: "Data engine" }), modes, panel.info, el("h2", { textContent: "Image" }), panel.image,
    el("div", { className: "hint", textContent: hint }), panel.next,
    el("h2", { textContent: mode === "review" ? "Review" : "Masks" }), panel.masks, panel.review);
  panel.review.hidden = mode !== "review";
  panel.next.hidden = panel.masks.hidden = mode === "review";
  host.replaceChildren(panel.root);
  return panel;
}

export function renderInfo(panel: EnginePanel, s: EngineSession, annotator: string): void {
  panel.info.textContent = `${s.project.split("/").pop()} · stage ${s.stage} · model round ${s.model_round} · ` +
    `${annotator} · done ${s.done_by_stage["1"]}/${s.done_by_stage["2"]}/${s.done_by_stage["3"]} of ${s.images - s.failed_images}`;
}

/** One row per stored mask; proposals and rejected masks get a button that flips them. */
export function renderMasks(panel: EnginePanel, masks: readonly EngineMask[], toggle: (m: EngineMask) => void): void {
  panel.masks.replaceChildren();
  if (!masks.length) panel.masks.append(el("li", { className: "empty", textContent: "No masks yet." }));
  for (const m of masks) {
    const li = el("li", { className: `engine-mask ${m.state}` });
    li.dataset.maskId = String(m.id);
    li.dataset.state = m.state;
    const effort = m.source.startsWith("annotator:") ? ` · ${m.clicks} click${m.clicks === 1 ? "" : "s"} · ${m.seconds.toFixed(1)} s` : "";
    const iou = m.predicted_iou === null ? "" : ` · IoU ${m.predicted_iou.toFixed(2)}`;
    li.append(el("span", { textContent: `#${m.id} ${m.state} · ${m.source}${effort}${iou}` }));
    if (m.state !== "accepted") {
      const b = el("button", { className: "toggle", textContent: m.state === "rejected" ? "Restore" : "Reject" });
      b.addEventListener("click", () => toggle(m));
      li.append(b);
    }
    panel.masks.append(li);
  }
}

export function renderRate(panel: EnginePanel, s: ReviewStats): void {
  const rate = s.rejection_rate === null ? "–" : `${(100 * s.rejection_rate).toFixed(1)}%`;
  panel.rate.textContent = `Rejection rate ${rate} (${s.rejected} of ${s.reviewed} reviewed) · ${s.queued} queued · ${s.automatic_masks} automatic masks`;
  panel.rate.dataset.rejectionRate = s.rejection_rate === null ? "" : String(s.rejection_rate);
}
