"""Pack the training side of a `samkit train` config into one small folder that can travel to a GPU
machine (samkit.training.data_pack): COCO-instances folders with downscaled photos and RLE masks, and
packed_config.yaml that trains on them. Held-out images are not packed.

Usage (repository root; the v2/v3 mixture of docs/training/default_model_v2.toml):
    SAMKIT_DATA_CACHE=/work/cache/data/v2 python scripts/builtin_gpu/pack_training_data.py \\
        --config docs/training/default_model_v2.toml --out gpu_data --max-side 384 --quality 72

384 px is the model's input; built-in v3 was trained on this 35 MiB copy (448 px at quality 80 is
50 MiB, over what fits beside the repository in the device tool's 64 MiB).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samkit.training.data_pack import FORMATS, pack_training_data
from samkit.training.config import load_config_file


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="a samkit train config (TOML/YAML)")
    ap.add_argument("--out", required=True, help="folder to write (created)")
    ap.add_argument("--max-side", type=int, default=448, help="longer image side in pixels, at most")
    ap.add_argument("--format", choices=sorted(FORMATS), default="webp")
    ap.add_argument("--quality", type=int, default=80)
    args = ap.parse_args(argv)
    path = pack_training_data(load_config_file(args.config), args.out, args.max_side, args.format, args.quality,
                              progress=lambda s: print(s, flush=True))
    total = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file()) / 2**20
    print(f"wrote {path}; {total:.1f} MiB in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
