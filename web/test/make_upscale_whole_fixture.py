"""Write fixtures/upscale_whole_cases.json: SAM 2's mask postprocessing done by PyTorch (one bilinear
resize of the low-res logits to the image size, as SAM2ImagePredictor does; then to the output size
when that is smaller), the reference for upscaleLogitsWholeImage in src/upscale.ts
(run: /work/main/.venv/bin/python make_upscale_whole_fixture.py)."""

import json
from pathlib import Path

import torch
import torch.nn.functional as F


def postprocess(low: torch.Tensor, orig_hw: tuple[int, int], out_hw: tuple[int, int]) -> torch.Tensor:
    x = F.interpolate(low, orig_hw, mode="bilinear", align_corners=False)
    return x if tuple(out_hw) == tuple(orig_hw) else F.interpolate(x, out_hw, mode="bilinear", align_corners=False)


def main() -> None:
    torch.manual_seed(0)
    cases = []
    for low_side, orig_hw, out_hw in [
        (16, (37, 50), (37, 50)),
        (16, (50, 37), (25, 18)),
        (16, (20, 90), (20, 90)),
        (12, (8, 10), (8, 10)),  # smaller than the low-res grid
    ]:
        low = torch.randn(1, 2, low_side, low_side) * 4
        out = postprocess(low, orig_hw, out_hw)
        cases.append({
            "low_hw": [low_side, low_side], "orig_hw": list(orig_hw), "out_hw": list(out_hw),
            "low": [round(v, 6) for v in low.flatten().tolist()],
            "expected_mask1": [round(v, 6) for v in out[0, 1].flatten().tolist()],
        })
    path = Path(__file__).with_name("fixtures") / "upscale_whole_cases.json"
    path.write_text(json.dumps(cases) + "\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
