"""`samkit engine status`: where a project stands, per stage and round."""

from __future__ import annotations

from samkit.engine.project import EngineProject

STAGE_NAMES = {1: "assisted-manual", 2: "semi-automatic", 3: "fully automatic"}


def status_report(project: EngineProject) -> dict:
    store = project.store
    images = store.images()
    return {
        "project": str(project.dir), "images_folder": str(project.images_folder),
        "model": str(project.current_model_path()), **store.state(),
        "images": {"ok": sum(im.status == "ok" for im in images), "failed": sum(im.status == "failed" for im in images),
                   "done_per_stage": {s: sum(s in im.done_stages for im in images) for s in (1, 2, 3)}},
        "rows": store.stats(), "review": store.review_stats(),
        "models": [{"round": m.round, "adopted": m.adopted, "miou_1click": m.metrics.get("miou_1click"),
                    "miou_5click": m.metrics.get("miou_5click"), "path": m.path} for m in store.models()],
    }


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def status_text(report: dict) -> str:
    im = report["images"]
    done = im["done_per_stage"]
    lines = [f"project {report['project']}: stage {report['stage']}, round {report['round']}, model {report['model']}",
             f"images: {im['ok']} ok, {im['failed']} failed to decode; done in stage 1/2/3: "
             f"{done[1]}/{done[2]}/{done[3]}", ""]
    head = ("stage", "round", "images", "masks", "masks/image", "s/mask", "clicks/mask", "proposed", "rejected",
            "model mIoU@1")
    rows = [head]
    for r in report["rows"]:
        rows.append((f"{r['stage']} {STAGE_NAMES[r['stage']]}", str(r["round"]), str(r["images"]), str(r["masks"]),
                     f"{r['masks_per_image']:.1f}", _f(r["seconds_per_mask"], ".1f"), _f(r["clicks_per_mask"], ".2f"),
                     str(r["proposed"]), str(r["rejected"]), _f(r["model_miou"], ".3f")))
    if len(rows) == 1:
        lines.append("no masks yet")
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    rv = report["review"]
    rate = rv["rejection_rate"]
    lines.append("")
    lines.append(f"review of stage 3: {rv['reviewed']} reviewed, {rv['rejected']} rejected, rejection rate "
                 f"{'-' if rate is None else format(rate, '.1%')}")
    if report["models"]:
        lines.append("models: " + "; ".join(
            f"round {m['round']} mIoU@1 {_f(m['miou_1click'], '.3f')} @5 {_f(m['miou_5click'], '.3f')}"
            f"{'' if m['adopted'] else ' (not adopted)'}" for m in report["models"]))
    return "\n".join(lines)
