"""Regenerate docs/img/eval_attack_example.png on the project's own CC0 example image (examples/coffee.png).

Usage (from the repo root): python scripts/eval_attack_example.py CHECKPOINT.safetensors
The picture in docs/ used the step-800 tiny checkpoint of docs/training.md.
"""
import sys; sys.path[:0] = ["src"]
from pathlib import Path
import numpy as np, torch
from samkit import load_model, SamPredictor, load_image
from samkit.evaluation.eval_samples import EvalImage, EvalObject
from samkit.evaluation.robustness import evaluate_robustness
from samkit.evaluation.report_plots import plot_attack_example
torch.manual_seed(0)
img_path = Path("examples/coffee.png")
rgb = load_image(img_path)
h, w = rgb.shape[:2]
# The cup: a hand-drawn ellipse as the ground-truth object (no dataset annotation involved).
yy, xx = np.mgrid[:h, :w]
gt = ((xx - 290) / 118.0) ** 2 + ((yy - 112) / 95.0) ** 2 < 1.0  # the cup rim
obj = EvalObject("cup", float(gt.sum()), False, lambda: gt)
model = load_model(checkpoint=sys.argv[1])
recs, example = evaluate_robustness(SamPredictor(model), [EvalImage("coffee", img_path, (h, w), (obj,))],
                                    budgets=(8 / 255,), steps=10, prompt_attack_objects=0)
print(recs[0]["clean"], recs[0]["embedding"])
plot_attack_example(example, Path("docs/img/eval_attack_example.png"))
