"""Distil the SAM 1 built-in model's image encoder into a sam2_cpu encoder (samkit.training.distill).

  python scripts/builtin_sam2/distill.py --run-dir /work/builtin_sam2/distill --max-minutes 60 \
      --max-steps 1500 --data ../shared/data

Resumes from RUN_DIR/checkpoints/latest.pt when it exists (same flags: the schedule and the image
stream depend on them).
"""

from __future__ import annotations

import argparse
import logging
import os

from samkit.training.distill import DistillConfig, default_sources, distill


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--data", default=os.environ.get("SAMKIT_DATA", "../shared/data"))
    ap.add_argument("--student", default="sam2_cpu")
    ap.add_argument("--teacher", default=None, help="SAM 1 checkpoint (default: samkit's built-in model)")
    ap.add_argument("--student-init", default=None,
                    help="SAM 2 checkpoint whose image encoder starts the student (default: random)")
    ap.add_argument("--cache", default=os.environ.get("SAMKIT_DATA_CACHE"),
                    help="scripts/prepare_extra_data.py's v2 folder: adds its ccp, camvid and dsb2018 images")
    ap.add_argument("--leave-out", action="append", default=[],
                    help="drop sources whose path contains this (repeatable), e.g. isbi2012")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--val-every", type=int, default=100)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sources = default_sources(args.data, args.cache, tuple(args.leave_out))
    cfg = DistillConfig(run_dir=args.run_dir, student=args.student, teacher=args.teacher,
                        student_init=args.student_init, sources=sources, batch_size=args.batch_size, lr=args.lr,
                        warmup_steps=args.warmup_steps, max_steps=args.max_steps, max_minutes=args.max_minutes,
                        threads=args.threads, seed=args.seed, ckpt_every=args.ckpt_every, val_every=args.val_every)
    print(distill(cfg))


if __name__ == "__main__":
    main()
