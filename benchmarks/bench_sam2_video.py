"""Video propagation time per frame: samkit's SAM2VideoPredictor vs the reference sam2 1.1.0, side by
side in one process, identical random weights, the same synthetic JPEG clip, rounds interleaved.

    python benchmarks/bench_sam2_video.py --preset sam2.1_hiera_t --image-size 512 --frames 6 --objects 1

With --memory, each side then runs once more alone in a fresh process (same clip, same prompts) and
reports the highest RSS sampled (every 10 ms) while it adds the prompts and propagates: in one
process the sides would share one high-water mark, and ru_maxrss would mostly show the transient
of building a model, not what tracking holds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests")]


class RssSampler:
    """Highest resident set size (MB) seen by a background thread polling /proc/self/statm."""

    def __init__(self, every_s: float = 0.01):
        self.every_s, self.peak_mb, self._stop = every_s, 0.0, threading.Event()
        self._page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with open("/proc/self/statm") as f:
                self.peak_mb = max(self.peak_mb, int(f.read().split()[1]) * self._page_mb)
            time.sleep(self.every_s)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="sam2.1_hiera_t")
    ap.add_argument("--image-size", type=int, default=None, help="model input size (default: the preset's)")
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--objects", type=int, default=1, choices=[1, 2, 3])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--memory", action="store_true", help="also measure each side's peak RSS alone")
    ap.add_argument("--only", choices=["reference", "samkit", "samkit_bf16"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from reference_sam2 import _plain_pooling_sizes, build_reference_sam2, reference_sam2_overrides
    from synthetic_video import synthetic_frames, write_frame_folder

    from samkit.builder_sam2 import build_sam2_model
    from samkit.config_sam2 import get_sam2_preset
    from samkit.video.build_video import video_predictor_from_model

    cfg = get_sam2_preset(args.preset).with_eval_postprocessing()
    cfg = dataclasses.replace(cfg, binarize_mask_from_pts_for_mem_enc=True,
                              image_size=args.image_size or cfg.image_size)
    config_file, overrides = reference_sam2_overrides(cfg)
    sides = []
    if args.only in (None, "reference"):
        ref = build_reference_sam2(config_file, overrides + [
            "++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor", "++model.fill_hole_area=0"])
        _plain_pooling_sizes(ref)
        sides.append(("reference", ref.eval()))
    if args.only != "reference":  # a --memory child builds its own side only (its weights stay random)
        ours = video_predictor_from_model(build_sam2_model(cfg), fill_hole_area=0).eval()
        if not args.only:
            ours.load_state_dict(ref.state_dict(), strict=True)
        ours_bf16 = video_predictor_from_model(ours, fill_hole_area=0).eval()  # same modules, bf16 path
        ours_bf16.encoder_dtype = torch.bfloat16
        sides += [("samkit", ours), ("samkit_bf16", ours_bf16)]
    if args.only:
        sides = [(name, p) for name, p in sides if name == args.only]
    prompts = [[[20, 30]], [[68, 16]], [[10, 60]]][: args.objects]
    with tempfile.TemporaryDirectory() as tmp:
        video = str(write_frame_folder(Path(tmp) / "clip", synthetic_frames(args.frames)))
        times = {name: [] for name, _ in sides}
        sampler = RssSampler()
        for _ in range(args.rounds):
            for name, predictor in sides:
                if args.only:
                    sampler.__enter__()
                state = predictor.init_state(video)
                for obj_id, pts in enumerate(prompts, 1):
                    predictor.add_new_points_or_box(state, 0, obj_id, points=pts, labels=[1])
                t0 = time.perf_counter()
                n = sum(1 for _ in predictor.propagate_in_video(state))
                times[name].append((time.perf_counter() - t0) / n)
                if args.only:
                    sampler.__exit__()
    best = {k: min(v) for k, v in times.items()}
    if args.only:
        print(json.dumps({"peak_rss_mb": sampler.peak_mb}))
        return
    print(f"{args.preset} @ {cfg.image_size} px, {args.objects} object(s), {args.frames} frames, "
          f"{torch.get_num_threads()} threads: reference {1e3 * best['reference']:.0f} ms/frame, "
          f"samkit fp32 {1e3 * best['samkit']:.0f} ms/frame (ratio {best['samkit'] / best['reference']:.2f}), "
          f"samkit bf16 {1e3 * best['samkit_bf16']:.0f} ms/frame "
          f"(ratio {best['samkit_bf16'] / best['reference']:.2f})", flush=True)
    if args.memory:
        passthrough = [a for a in sys.argv[1:] if a != "--memory"]
        for name, _ in sides:
            out = subprocess.run([sys.executable, __file__, *passthrough, "--rounds", "1", "--only", name],
                                 capture_output=True, text=True, check=True).stdout
            print(f"  {name}: peak RSS {json.loads(out.strip().splitlines()[-1])['peak_rss_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
