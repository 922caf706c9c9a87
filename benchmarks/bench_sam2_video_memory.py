"""Peak RSS of tracking one object through N generated frames (each run in a fresh process), to show
that samkit's video predictor runs long videos in bounded memory.

    python benchmarks/bench_sam2_video_memory.py --preset sam2_test_tiny --frames 200 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(preset: str, frames: int, release: bool) -> None:
    import numpy as np
    import torch
    from PIL import Image

    from samkit.video.build_video import build_sam2_video_predictor
    from samkit.video.frame_source import FrameSource

    torch.set_num_threads(1)

    class Generated(FrameSource):
        def __init__(self, n, size):
            super().__init__(size)
            self.num_frames, self.video_height, self.video_width = n, 480, 854

        def _read(self, i):
            yy, xx = np.mgrid[0:480, 0:854]
            f = np.stack([xx % 256, yy % 256, np.full_like(xx, 90)], -1).astype(np.uint8)
            f[(xx - 100 - (i % 600)) ** 2 + (yy - 240) ** 2 < 2500] = (230, 30, 30)
            return self._resize(Image.fromarray(f))

    predictor = build_sam2_video_predictor(preset, device="cpu", fill_hole_area=0, release_old_frames=release)
    state = predictor.init_state(Generated(frames, predictor.image_size))
    predictor.add_new_points_or_box(state, 0, 1, points=[[100, 240]], labels=[1])
    for _ in predictor.propagate_in_video(state):
        pass  # the caller drops each frame's masks, as a writer would
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="sam2_test_tiny")
    ap.add_argument("--frames", type=int, nargs="+", default=[200, 2000])
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2] == "1")
        return
    for release in (True, False):
        for n in args.frames:
            out = subprocess.run([sys.executable, __file__, "--child", args.preset, str(n), str(int(release))],
                                 capture_output=True, text=True, cwd=ROOT, check=True).stdout
            rss = json.loads(out.strip().splitlines()[-1])["peak_rss_mb"]
            print(f"{args.preset}, {n} frames, release_old_frames={release}: peak RSS {rss:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
