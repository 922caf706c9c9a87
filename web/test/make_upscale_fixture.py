"""Write fixtures/upscale_cases.json: SAM's mask postprocessing done by PyTorch (bilinear to img_size,
crop, bilinear to the output size), the reference for src/upscale.ts
(run: /work/venv/bin/python make_upscale_fixture.py)."""

import json
from pathlib import Path

import torch
import torch.nn.functional as F


def postprocess(low: torch.Tensor, img_size: int, orig_hw: tuple[int, int], out_hw: tuple[int, int]) -> torch.Tensor:
    s = img_size / max(orig_hw)
    ih, iw = int(orig_hw[0] * s + 0.5), int(orig_hw[1] * s + 0.5)
    x = F.interpolate(low, (img_size, img_size), mode="bilinear", align_corners=False)[..., :ih, :iw]
    return F.interpolate(x, out_hw, mode="bilinear", align_corners=False)


def main() -> None:
    torch.manual_seed(0)
    cases = []
    for low_side, img_size, orig_hw, out_hw in [
        (16, 64, (37, 50), (37, 50)),
        (16, 64, (50, 37), (25, 18)),
        (16, 64, (20, 90), (41, 180)),
        (12, 48, (48, 48), (96, 96)),
    ]:
        low = torch.randn(1, 2, low_side, low_side) * 4
        out = postprocess(low, img_size, orig_hw, out_hw)
        cases.append({
            "low_hw": [low_side, low_side], "img_size": img_size, "orig_hw": list(orig_hw), "out_hw": list(out_hw),
            "low": [round(v, 6) for v in low.flatten().tolist()],
            "expected_mask1": [round(v, 6) for v in out[0, 1].flatten().tolist()],
        })
    path = Path(__file__).with_name("fixtures") / "upscale_cases.json"
    path.write_text(json.dumps(cases) + "\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
