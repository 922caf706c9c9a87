"""Train a SAM model's text path on category names, the rest of the model frozen.

    OMP_NUM_THREADS=1 python -m samkit.training.text_train --data ../shared/data/coco --run-dir runs/text_path \
        --output runs/text_path/samkit_default_text.safetensors

Only the text tower and its projection learn (samkit.modeling.text_encoder); the image encoder,
prompt encoder and mask decoder are frozen, so points and boxes give exactly the masks they gave
before (checked before the output is written). Each photo of the training side of the hash split is
encoded once (plus its mirror). A step: a batch of (photo, category) pairs, the name as the only
sparse token, three masks out, the lowest BCE + dice of the three against the target (the largest
instance of that category) back-propagated, plus MSE between predicted and actual IoU (the paper's
losses at the built-in model's 1:1 weighting). Resumable: state every --save-every steps in
--run-dir; rerunning the command continues. Without a pretrained CLIP this learns a closed
vocabulary: the category names of the data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from samkit.config_text import TextPromptConfig
from samkit.modeling.text_encoder import build_word_text_encoder
from samkit.training.text_data import category_objects, encode_photos


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="COCO folder (annotations/instances_train2017.json, images/train2017)")
    p.add_argument("--checkpoint", default=None, help="base SAM checkpoint (default: the built-in model)")
    p.add_argument("--run-dir", required=True, help="state, embeddings and log go here (rerun to resume)")
    p.add_argument("--output", required=True, help="the base model + trained text path, fp16 .safetensors")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32, help="(photo, category) prompts per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--min-area", type=float, default=100.0, help="objects under this many pixels are skipped")
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def masks_loss(low_res: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """low_res B x K x h x w logits, iou_pred B x K, target B x h x w {0,1} -> (loss, IoU of the chosen mask B)."""
    t = target[:, None].expand_as(low_res)
    bce = F.binary_cross_entropy_with_logits(low_res, t, reduction="none").mean((-1, -2))
    p = torch.sigmoid(low_res)
    dice = 1 - (2 * (p * t).sum((-1, -2)) + 1) / (p.sum((-1, -2)) + t.sum((-1, -2)) + 1)
    per_mask = bce + dice  # B x K
    best = per_mask.argmin(dim=1)
    with torch.no_grad():
        hard = (low_res > 0).float()
        inter, union = (hard * t).sum((-1, -2)), ((hard + t) > 0).float().sum((-1, -2))
        iou = inter / union.clamp(min=1)
    chosen = per_mask.gather(1, best[:, None]).mean()
    return chosen + F.mse_loss(iou_pred, iou), iou.gather(1, best[:, None])[:, 0]


def decode_text(model, text_encoder, embeddings: torch.Tensor, tokens: torch.Tensor):
    """embeddings B x C x h x w, tokens B x L -> low-res logits B x 3 x 4h x 4w, IoU B x 3 (text alone)."""
    pe_enc = model.prompt_encoder
    sparse = text_encoder(tokens)
    h, w = pe_enc.image_embedding_size
    dense = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(embeddings.shape[0], -1, h, w)
    return model.mask_decoder(embeddings, pe_enc.get_dense_pe(), sparse, dense, multimask_output=True)


def _lr(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    return 0.5 * args.lr * (1 + math.cos(math.pi * (step - args.warmup) / max(1, args.steps - args.warmup)))


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _data(model, args, run_dir: Path, log):
    ann = Path(args.data) / "annotations" / "instances_train2017.json"
    photos, _ = category_objects(ann, "train", args.val_fraction, args.split_seed, args.min_area)
    digest = hashlib.sha256(ann.read_bytes()).hexdigest()
    cache = run_dir / "embeddings.pt"
    key = {"annotations_sha256": digest, "photos": [p["file_name"] for p in photos], "min_area": args.min_area}
    if cache.is_file():
        saved = torch.load(cache, weights_only=False)
        if saved["key"] == key:
            log(f"embeddings of {len(photos)} photos read from {cache}")
            return saved["embeddings"], saved["samples"], photos, digest
    log(f"encoding {len(photos)} training photos (+ mirrors) with the frozen image encoder")
    embeddings, samples = encode_photos(model, photos, Path(args.data) / "images" / "train2017", log)
    _save_atomic({"key": key, "embeddings": embeddings, "samples": samples}, cache)
    return embeddings, samples, photos, digest


def train(args) -> Path:
    from samkit.build import load_model

    torch.manual_seed(args.seed)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(run_dir / "log.txt", "a")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    model = load_model(checkpoint=args.checkpoint)
    model.requires_grad_(False)
    embeddings, samples, photos, digest = _data(model, args, run_dir, log)
    names = sorted({s.name for s in samples})
    config = TextPromptConfig(kind="word", prompt_dim=model.prompt_encoder.embed_dim, vocabulary=tuple(names),
                              width=args.width, layers=args.layers, heads=args.heads, clip_embed_dim=args.width)
    text_encoder = build_word_text_encoder(config)
    opt = torch.optim.AdamW(text_encoder.parameters(), lr=args.lr, weight_decay=0.01)
    state_path, step, wall_s = run_dir / "state.pt", 0, 0.0
    if state_path.is_file():
        st = torch.load(state_path, weights_only=False)
        text_encoder.load_state_dict(st["text_encoder"])
        opt.load_state_dict(st["optimizer"])
        step, wall_s = st["step"], st["wall_s"]
        torch.set_rng_state(st["rng"])
        log(f"resumed at step {step}")
    tokens_of = {n: text_encoder.tokenizer(n)[0] for n in names}
    log(f"{len(photos)} photos, {len(samples)} (photo, category) samples, {len(names)} names; "
        f"text path {sum(p.numel() for p in text_encoder.parameters()) / 1e6:.2f} M parameters")
    t_last, run_loss, run_iou = time.perf_counter(), 0.0, 0.0
    while step < args.steps:
        for g in opt.param_groups:
            g["lr"] = _lr(step, args)
        pick = torch.randint(len(samples), (args.batch,)).tolist()
        flip = torch.randint(2, (args.batch,)).tolist()
        batch = [samples[i] for i in pick]
        emb = embeddings[[2 * s.image_index + f for s, f in zip(batch, flip)]]
        target = torch.stack([s.target_lowres[f] for s, f in zip(batch, flip)])
        tokens = torch.stack([tokens_of[s.name] for s in batch])
        low_res, iou_pred = decode_text(model, text_encoder, emb, tokens)
        loss, iou = masks_loss(low_res, iou_pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        run_loss += loss.item()
        run_iou += iou.mean().item()
        if step % 50 == 0 or step == args.steps:
            now = time.perf_counter()
            wall_s += now - t_last
            t_last = now
            log(f"step {step}/{args.steps}  loss {run_loss / 50:.4f}  train IoU (best of 3) {run_iou / 50:.3f}  "
                f"lr {_lr(step, args):.2e}  {wall_s / 60:.1f} min")
            run_loss = run_iou = 0.0
        if step % args.save_every == 0 or step == args.steps:
            _save_atomic({"text_encoder": text_encoder.state_dict(), "optimizer": opt.state_dict(), "step": step,
                          "wall_s": wall_s, "rng": torch.get_rng_state()}, state_path)
    provenance = {"data": str(Path(args.data) / "annotations" / "instances_train2017.json"),
                  "annotations_sha256": digest, "split": f"hash split side 'train', val_fraction "
                  f"{args.val_fraction}, split_seed {args.split_seed}", "photos": len(photos),
                  "samples": len(samples), "steps": step, "batch": args.batch, "wall_min": round(wall_s / 60, 1),
                  "target": "largest non-crowd instance of the category, multimask min-loss"}
    config = TextPromptConfig(**{**json.loads(config.to_json()), "vocabulary": tuple(names), "training": provenance})
    text_encoder.config = config
    from samkit.training.text_package import write_with_text_path

    out = write_with_text_path(args.checkpoint, text_encoder, Path(args.output), log)
    log_file.close()
    return out


def main(argv=None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
