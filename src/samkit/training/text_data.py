"""Training data of the text path: (image embedding, category name, target mask) from a COCO instances file.

Target (the documented choice, docs/text-prompts.md): a category name prompts the **largest
non-crowd instance of that category** in the image (objects under `min_area_px` skipped). The
image encoder is frozen, so every training photo is encoded once (and once mirrored); targets are
kept as low-res masks in the padded model-input frame (the decoder's 4h x 4w output). The photos are
the training side of samkit's hash split (samkit.data.splits): held-out photos are never read here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from samkit.data.coco import decode_segmentation
from samkit.data.splits import keep_side
from samkit.errors import InputError
from samkit.json_files import read_json


@dataclass
class TextSample:
    """One (image, category) pair: index into the embeddings, the name, the target for each flip."""

    image_index: int
    name: str
    target_lowres: torch.Tensor  # 2 x 4h x 4w float {0,1}: [original, mirrored], padded model-input frame


def category_objects(annotation_json: Path, side: str, val_fraction: float, split_seed: int,
                     min_area_px: float) -> tuple[list[dict], list[str]]:
    """Per photo on `side` of the hash split: {file_name, hw, objects: {name: segmentation}} keeping each
    category's largest non-crowd instance; and the sorted category names of the whole file."""
    data = read_json(annotation_json, "a COCO instances file")
    try:
        names = {c["id"]: c["name"] for c in data["categories"]}
        images = {im["id"]: im for im in data["images"]}
        anns = data["annotations"]
    except (KeyError, TypeError) as e:
        raise InputError(f"{annotation_json}: not a COCO instances file with categories ({e})") from None
    best: dict = defaultdict(dict)  # image id -> name -> (area, segmentation)
    for a in anns:
        if a.get("iscrowd") or a.get("image_id") not in images or a.get("category_id") not in names:
            continue
        area = float(a.get("area") or 0.0)
        if area < min_area_px:
            continue
        name = names[a["category_id"]]
        if area > best[a["image_id"]].get(name, (-1.0, None))[0]:
            best[a["image_id"]][name] = (area, a["segmentation"])
    ids = sorted(best)
    keep = keep_side([images[i]["file_name"] for i in ids], side, val_fraction, split_seed, str(annotation_json))
    photos = [{"file_name": images[i]["file_name"], "hw": (images[i]["height"], images[i]["width"]),
               "objects": {n: seg for n, (_, seg) in sorted(best[i].items())}}
              for i, k in zip(ids, keep) if k]
    return photos, sorted(set(names.values()))


def lowres_target(mask_hw: np.ndarray, input_hw: tuple[int, int], img_size: int, lowres: int) -> torch.Tensor:
    """H x W bool -> lowres x lowres float {0,1} in the padded model-input frame (as the decoder sees it)."""
    m = torch.from_numpy(mask_hw.astype(np.float32))[None, None]
    m = F.interpolate(m, size=input_hw, mode="bilinear", align_corners=False)
    m = F.pad(m, (0, img_size - input_hw[1], 0, img_size - input_hw[0]))
    m = F.adaptive_avg_pool2d(m, lowres)
    return (m[0, 0] > 0.5).float()


@torch.inference_mode()
def encode_photos(model, photos: list[dict], image_dir: Path, progress=print) -> tuple[torch.Tensor, list[TextSample]]:
    """Encode each photo and its mirror once. Returns embeddings (2N) x C x h x w ([2i] original,
    [2i+1] mirrored) and the (image, category) samples."""
    from samkit.image_io import load_image
    from samkit.inference.transforms import ResizeLongestSide

    size = model.image_encoder.img_size
    lowres = model.prompt_encoder.mask_input_size[0]
    resize = ResizeLongestSide(size)
    embeddings, samples = [], []
    for i, photo in enumerate(photos):
        image = load_image(image_dir / photo["file_name"])
        h, w = photo["hw"]
        if image.shape[:2] != (h, w):
            raise InputError(f"{photo['file_name']}: image is {image.shape[1]}x{image.shape[0]}, the JSON says {w}x{h}")
        resized = resize.apply_image(image)
        input_hw = resized.shape[:2]
        both = [resized, np.ascontiguousarray(resized[:, ::-1])]
        x = torch.stack([model.preprocess(torch.as_tensor(r).permute(2, 0, 1)[None].float())[0] for r in both])
        embeddings.append(model.encode_images(x))
        for name, seg in photo["objects"].items():
            mask = decode_segmentation(seg, h, w)
            targets = [lowres_target(m, input_hw, size, lowres) for m in (mask, mask[:, ::-1].copy())]
            samples.append(TextSample(i, name, torch.stack(targets)))
        if progress and (i + 1) % 25 == 0:
            progress(f"encoded {i + 1}/{len(photos)} photos")
    return torch.cat(embeddings), samples
