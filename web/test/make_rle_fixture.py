"""Write fixtures/rle_cases.json: masks and their COCO RLE from pycocotools, the reference the
TypeScript encoder in src/rle.ts is tested against (run: /work/venv/bin/python make_rle_fixture.py).

Masks are stored row-major as strings of 0/1 so the TypeScript test can rebuild them exactly.
"""

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils


def cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    out = [
        ("empty", np.zeros((5, 7), np.uint8)),
        ("full", np.ones((6, 4), np.uint8)),
        ("single_pixel_corner", np.pad(np.ones((1, 1), np.uint8), ((0, 4), (3, 0)))),
        ("one_row", (rng.random((1, 37)) > 0.5).astype(np.uint8)),
        ("one_col", (rng.random((41, 1)) > 0.5).astype(np.uint8)),
        ("noise", (rng.random((23, 31)) > 0.6).astype(np.uint8)),
    ]
    yy, xx = np.mgrid[:120, :200]
    out.append(("disc", (((yy - 60) ** 2 + (xx - 90) ** 2) < 45**2).astype(np.uint8)))
    # Long runs: counts above 2^15 and deltas of both signs exercise multi-group encodings.
    big = np.zeros((400, 300), np.uint8)
    big[:, 150:] = 1
    big[10:380, 20:40] = 1
    out.append(("long_runs", big))
    return out


def main() -> None:
    records = []
    for name, m in cases():
        rle = mask_utils.encode(np.asfortranarray(m))
        records.append({
            "name": name,
            "size": [int(m.shape[0]), int(m.shape[1])],
            "mask": "".join(map(str, m.reshape(-1).tolist())),
            "counts": rle["counts"].decode("ascii"),
            "area": int(mask_utils.area(rle)),
            "bbox": [int(v) for v in mask_utils.toBbox(rle).tolist()],
        })
    path = Path(__file__).with_name("fixtures") / "rle_cases.json"
    path.write_text(json.dumps(records, indent=1) + "\n")
    print(f"wrote {len(records)} cases to {path}")


if __name__ == "__main__":
    main()
