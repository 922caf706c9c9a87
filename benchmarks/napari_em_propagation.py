"""3D Dice of objects propagated through the ISBI 2012 EM stack by samkit's napari plugin.

    python benchmarks/napari_em_propagation.py [--objects 5] [--screenshot docs/img/napari_em.png]

The stack (../shared/data/microscopy/isbi2012_em_membrane: 30 serial sections, 512 x 512, with
binary membrane labels: 255 = inside a cell, 0 = membrane) is opened in a real napari viewer (under
a private Xvfb when no DISPLAY is set), the plugin's "Segment (clicks, boxes, 3D)" widget is docked
from its npe2 manifest with the built-in SAM 2 model, and for each object: a box on the middle
slice (its ground-truth box), then "Propagate" (napari's progress bar advances per slice), and
the Labels layer is read back.

Ground truth objects: the labels are per slice (cell interiors, no ids), so an object is a
4-connected component of the middle slice, followed slice by slice to the component that overlaps
it most (overlap >= 50% of the smaller of the two; else the object has ended). Objects are drawn
with a fixed seed among middle-slice components of 1,000-40,000 px that do not touch the border.

Rows: SAM 2 video propagation (the plugin); the baseline of copying the prompted slice's mask to
every slice; SAM 1 (built-in) box-by-box propagation (the plugin's SAM 1 path, each slice prompted
with the box of the mask before it). 3D Dice = 2|P & G| / (|P| + |G|) over the whole stack.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("SAMKIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
STACK = DATA / "microscopy" / "isbi2012_em_membrane"


def load_stack() -> tuple[np.ndarray, np.ndarray]:
    """(images Z x H x W uint8, labels Z x H x W bool: inside a cell), sections in numeric order."""
    from PIL import Image

    names = sorted((p.name for p in (STACK / "image").glob("*.png")), key=lambda n: int(Path(n).stem))
    images = np.stack([np.array(Image.open(STACK / "image" / n).convert("L")) for n in names])
    labels = np.stack([np.array(Image.open(STACK / "label" / n).convert("L")) > 127 for n in names])
    return images, labels


def gt_object(labels: np.ndarray, z0: int, component: np.ndarray) -> np.ndarray:
    """Z x H x W bool: `component` on slice z0, followed up and down by maximal overlap."""
    from scipy import ndimage

    out = np.zeros_like(labels)
    out[z0] = component
    for step in (1, -1):
        prev = component
        for z in range(z0 + step, len(labels) if step > 0 else -1, step):
            comps, _ = ndimage.label(labels[z])
            ids, counts = np.unique(comps[prev & (comps > 0)], return_counts=True)
            if len(ids) == 0:
                break
            best = ids[np.argmax(counts)]
            cand = comps == best
            if counts.max() < 0.5 * min(prev.sum(), cand.sum()):
                break
            out[z] = prev = cand
    return out


def pick_components(labels_slice: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    from scipy import ndimage

    comps, k = ndimage.label(labels_slice)
    eligible = []
    for i in range(1, k + 1):
        m = comps == i
        ys, xs = np.nonzero(m)
        area = len(ys)
        border = ys.min() == 0 or xs.min() == 0 or ys.max() == m.shape[0] - 1 or xs.max() == m.shape[1] - 1
        if 1000 <= area <= 40000 and not border:
            eligible.append(m)
    rng = np.random.default_rng(seed)
    return [eligible[i] for i in sorted(rng.choice(len(eligible), size=min(n, len(eligible)), replace=False))]


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    denom = pred.sum() + gt.sum()
    return float(2 * np.logical_and(pred, gt).sum() / denom) if denom else 1.0


def ensure_display() -> None:
    if os.environ.get("DISPLAY"):
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("no DISPLAY and no Xvfb: run under a desktop or install xvfb (scripts/setup.sh does, as root)")
    r, w = os.pipe()
    subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "1600x1000x24", "-nolisten", "tcp", "-terminate"],
                     pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        os.environ["DISPLAY"] = ":" + f.readline().strip()
    os.environ["QT_QPA_PLATFORM"] = "xcb"


def wait(widget, n: int, app) -> None:
    while widget.completed < n:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", choices=("box", "click"), default="box",
                    help="box: the GT box on the middle slice; click: one positive click at the GT object's most "
                         "interior pixel (largest distance to its boundary)")
    ap.add_argument("--screenshot", default="", help="write a PNG of the napari window at the end")
    args = ap.parse_args()
    if not STACK.is_dir():
        sys.exit(f"the ISBI 2012 stack is not at {STACK}")
    ensure_display()
    import napari
    import torch
    from qtpy.QtWidgets import QApplication

    from samkit import load_model
    from samkit.integrations.napari.propagation import propagate_by_boxes

    images, labels = load_stack()
    z0 = len(images) // 2
    objects = [gt_object(labels, z0, c) for c in pick_components(labels[z0], args.objects, args.seed)]

    viewer = napari.Viewer(show=False)
    viewer.window._qt_window.resize(1500, 950)
    app = QApplication.instance()
    _, widget = viewer.window.add_plugin_dock_widget("samkit", "Segment (clicks, boxes, 3D)")
    viewer.add_image(images, name="ISBI 2012 EM")
    widget.picker.model.value = "built-in SAM 2"
    widget.picker.image.value = "ISBI 2012 EM"
    viewer.dims.set_current_step(0, z0)
    sam1 = load_model()
    rows = []
    done = 0
    for k, gt in enumerate(objects, start=1):
        widget.next_object()
        obj_id = int(widget.object_id.value)
        ys, xs = np.nonzero(gt[z0])
        t0 = time.perf_counter()
        y0, x0, y1, x1 = ys.min(), xs.min(), ys.max(), xs.max()
        if args.prompt == "box":
            viewer.layers["samkit boxes"].add_rectangles(np.array([[z0, y0, x0], [z0, y0, x1], [z0, y1, x1], [z0, y1, x0]]))
            prompt1 = {"box": np.array([x0, y0, x1, y1], dtype=np.float32), "multimask_output": False}
        else:
            from scipy import ndimage

            cy, cx = np.unravel_index(np.argmax(ndimage.distance_transform_edt(gt[z0])), gt[z0].shape)
            viewer.layers["samkit points"].add([[z0, cy, cx]])
            prompt1 = {"point_coords": np.array([[cx, cy]]), "point_labels": np.array([1])}
        wait(widget, done + 1, app)
        t1 = time.perf_counter()
        widget.propagate()
        wait(widget, done + 2, app)
        t2 = time.perf_counter()
        done += 2
        pred = viewer.layers["ISBI 2012 EM samkit labels"].data == obj_id
        copied = np.broadcast_to(pred[z0], pred.shape)
        planes = np.repeat(images[..., None], 3, axis=3)
        from samkit.inference.model_family import image_predictor

        p1 = image_predictor(sam1)
        p1.set_image(planes[z0])
        masks1, iou1, _ = p1.predict(**prompt1)
        m1 = masks1[int(np.argmax(iou1))] > 0
        sam1_stack = np.zeros_like(gt)
        for z, m in propagate_by_boxes(sam1, planes, z0, m1):
            sam1_stack[z] = m
        rows.append({"object": k, "gt_slices": int(gt.any(axis=(1, 2)).sum()), "gt_voxels": int(gt.sum()),
                     "dice_sam2": dice(pred, gt), "dice_copy": dice(copied, gt),
                     "dice_copy_gt": dice(np.broadcast_to(gt[z0], gt.shape), gt), "dice_sam1_boxes": dice(sam1_stack, gt),
                     "dice_mid_slice": dice(pred[z0], gt[z0]), "click_s": t1 - t0, "propagate_s": t2 - t1})
        print(rows[-1], flush=True)

    print(f"\nprompt {args.prompt}, torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}\n")
    print("| object | GT slices | prompt-slice Dice | copy prompted mask | SAM 1 box-by-box | SAM 2 propagation "
          "| (oracle: copy GT mask) | propagate s |")
    print("|---|---|---|---|---|---|---|---|")
    keys = ("dice_mid_slice", "dice_copy", "dice_sam1_boxes", "dice_sam2", "dice_copy_gt")
    for r in rows:
        print(f"| {r['object']} | {r['gt_slices']} | " + " | ".join(f"{r[k]:.3f}" for k in keys)
              + f" | {r['propagate_s']:.1f} |")
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    print(f"| **mean** | {mean('gt_slices'):.1f} | " + " | ".join(f"{mean(k):.3f}" for k in keys)
          + f" | {mean('propagate_s'):.1f} |")
    if args.screenshot:
        viewer.layers["samkit boxes"].visible = True
        viewer.layers.selection.active = viewer.layers["ISBI 2012 EM samkit labels"]
        app.processEvents()
        img = viewer.screenshot(canvas_only=False, flash=False)
        from PIL import Image

        Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(args.screenshot)
        print("wrote", args.screenshot)
    viewer.close()


if __name__ == "__main__":
    main()
