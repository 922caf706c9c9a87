"""Markdown tables of evaluation summaries (one function per protocol, keyed by model label)."""

from __future__ import annotations

import math

SIZES = ("all", "small", "medium", "large")


def _f(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header, rows) -> str:
    return "\n".join([_row(header), _row(["---"] * len(header))] + [_row(r) for r in rows])


def clicks_table(summaries: dict[str, dict], clicks_shown=(1, 2, 3, 5, 10, 20)) -> str:
    """summaries: label -> `summarize_clicks` output. One row per (model, size group)."""
    max_k = max((len(s["all"].get("miou_score", [])) for s in summaries.values()), default=0)
    ks = [k for k in clicks_shown if k <= max_k]
    # "pred-IoU r": Pearson correlation of the predicted and the real IoU over every mask of the
    # first click (`score_calibration`); "–" for a model without a quality estimate.
    header = ["model", "objects", "size"] + [f"mIoU@{k}" for k in ks] + ["NoC@85", "NoC@90", "fail@90",
                                                                         "oracle mIoU@1", "oracle NoC@90",
                                                                         "pred-IoU r"]
    rows = []
    for label, summary in summaries.items():
        for size in SIZES:
            s = summary.get(size, {"count": 0})
            if not s["count"]:
                continue
            rows.append([label, s["count"], size] + [_f(s["miou_score"][k - 1]) for k in ks]
                        + [_f(s["noc85_score"], 2), _f(s["noc90_score"], 2), _f(s["nof90_score"], 2),
                           _f(s["miou_oracle"][0]), _f(s["noc90_oracle"], 2),
                           _f(s.get("calibration_first_click", {}).get("pearson"), 2)])
    return _table(header, rows)


def boxes_table(summaries: dict[str, dict]) -> str:
    rows = [[label, size, s[size]["count"], _f(s[size].get("miou_gt_box")), _f(s[size].get("miou_noisy_box"))]
            for label, s in summaries.items() for size in SIZES if s[size]["count"]]
    return _table(["model", "size", "objects", "mIoU (GT box)", "mIoU (noisy box)"], rows)


def amg_table(summaries: dict[str, dict]) -> str:
    rows = []
    for label, s in summaries.items():
        ks = sorted(int(k.split("@")[1]) for k in s if k.startswith("AR@"))
        for k in ks:
            for metric in ("AR", "R50", "R75", "ABO"):
                if f"{metric}@{k}" not in s:
                    continue
                rows.append([label, f"{metric}@{k}"] + [_f(s[f"{metric}@{k}"][a]) for a in SIZES]
                            + [_f(s.get("proposals_per_image"), 1)])
    counts = next(iter(summaries.values()))["num_gt"] if summaries else {}
    header = ["model", "metric"] + [f"{a} ({counts.get(a, 0)} GT)" for a in SIZES] + ["proposals/img"]
    return _table(header, rows)


def attack_table(summaries: dict[str, dict]) -> str:
    rows = []
    for label, s in summaries.items():
        if not s.get("count"):
            continue
        rows.append([label, "clean", "–", s["count"], _f(s["clean"]["point"]), _f(s["clean"]["box"]), "", "", ""])
        for attack in ("embedding", "prompt"):
            for budget, e in s[attack].items():
                change = e.get("embedding_change")
                rows.append([label, attack, budget, e["count"], _f(e["point"]["miou"]), _f(e["box"]["miou"]),
                             _f(-e["point"]["drop"]), _f(-e["box"]["drop"]),
                             f"{change['attack']:.3f} (noise {change['random']:.3f})" if change else "–"])
    return _table(["model", "attack", "L-inf eps", "objects", "point mIoU", "box mIoU", "point Δ vs clean",
                   "box Δ vs clean", "embedding change"], rows)


def video_table(summaries: dict[str, dict]) -> str:
    rows = [[label, _f(s["mean"]["J&F"]), _f(s["mean"]["J"]), _f(s["mean"]["F"]), _f(s["mean"]["J_recall"]),
             len(s["per_sequence"])] for label, s in summaries.items()]
    table = _table(["method", "J&F", "J", "F", "J recall", "tracks"], rows)
    seqs = sorted({q for s in summaries.values() for q in s["per_sequence"]})
    per_seq = _table(["sequence"] + [f"{label} J&F" for label in summaries],
                     [[q] + [_f(s["per_sequence"].get(q, {}).get("J&F")) for s in summaries.values()] for q in seqs])
    return table + "\n\n" + per_seq


def video_sequence_table(summaries: dict[str, dict]) -> str:
    """J, F and J&F per (sequence, method), sequences sorted, methods in the given order."""
    seqs = sorted({q for s in summaries.values() for q in s["per_sequence"]})
    rows = [[q, label, _f(r["J"]), _f(r["F"]), _f(r["J&F"]), r["frames"]]
            for q in seqs for label, s in summaries.items() if (r := s["per_sequence"].get(q)) is not None]
    return _table(["sequence", "method", "J", "F", "J&F", "frames"], rows)
