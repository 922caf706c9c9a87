"""Clicks through a real Label Studio: samkit's ML backend answering Label Studio's smart tools.

    python benchmarks/bench_label_studio.py [--model vit_b] [--clicks 20] [--rounds 2] [--write-doc]

Starts Label Studio from .venv-labelstudio (temp data dir) and `samkit label-studio --model MODEL`
(random weights: speed does not depend on them), makes a project with label-studio-sdk, and times
POST /api/ml/{id}/interactive-annotating round trips (Label Studio -> backend -> brush RLE -> back):
- the first click on an image (fetch + encoder + decoder), next to the encoder alone (SamPredictor
  .set_image in this process, interleaved with the first clicks, same thread count);
- the p50/p90 of the later clicks on that image (decoder only), and the same clicks sent to the
  backend's /predict directly, to show how much of the round trip is Label Studio's own.
--write-doc puts the table into docs/label-studio.md (between the bench markers).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "integrations_labelstudio")]
from ls_venv import LS_VENV, free_port, sdk, wait_up  # noqa: E402  (the tests' Label Studio helpers)

SHARED_PHOTO = Path(os.environ.get("SAMKIT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "coco" / "images" / "train2017"
TOKEN = "samkit-bench-token-0123456789"
CONFIG = """<View><Image name="image" value="$image"/>
<KeyPointLabels name="kp" toName="image" smart="true"><Label value="object" smart="true"/></KeyPointLabels>
<BrushLabels name="brush" toName="image"><Label value="object"/></BrushLabels></View>"""
DOC = ROOT / "docs" / "label-studio.md"
BEGIN, END = "<!-- bench_label_studio:begin -->", "<!-- bench_label_studio:end -->"


def images(folder: Path, n: int) -> list[np.ndarray]:
    """n different photos (COCO when ../shared/data has them, else synthetic 1024 x 768 scenes)."""
    from PIL import Image

    folder.mkdir(parents=True)
    photos = sorted(SHARED_PHOTO.glob("*.jpg"))[:n] if SHARED_PHOTO.is_dir() else []
    out = []
    for i in range(n):
        if i < len(photos):
            img = np.asarray(Image.open(photos[i]).convert("RGB"))
        else:
            rng = np.random.default_rng(i)
            img = (rng.random((768, 1024, 3)) * 60 + 90).astype(np.uint8)
            img[200:500, 300:700] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(folder / f"img{i:02d}.png")
        out.append(img)
    return out


def click(x_pct: float, y_pct: float, hw: tuple[int, int], positive: bool = True) -> dict:
    return {"type": "keypointlabels", "from_name": "kp", "to_name": "image", "original_width": hw[1],
            "original_height": hw[0], "is_positive": positive, "value": {"x": x_pct, "y": y_pct, "width": 0.5,
                                                                         "keypointlabels": ["object"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vit_b")
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2, help="first clicks (each on a new image) and encodes")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    if not (LS_VENV / "bin" / "label-studio").is_file():
        sys.exit(f"Label Studio is not installed in {LS_VENV} (run scripts/setup.sh)")
    import httpx
    import torch

    from samkit.build import load_model
    from samkit.inference.predictor import SamPredictor

    tmp = Path(tempfile.mkdtemp(prefix="samkit-bench-ls-"))
    procs = []
    try:
        docroot = tmp / "files"
        imgs = images(docroot / "images", args.rounds)
        (tmp / "data").mkdir()
        template = LS_VENV / "samkit-test-template.sqlite3"
        if template.is_file():
            shutil.copyfile(template, tmp / "data" / "label_studio.sqlite3")
        ls_port, be_port = free_port(), free_port()
        ls_url, be_url = f"http://127.0.0.1:{ls_port}", f"http://127.0.0.1:{be_port}"
        env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(tmp / "data"), "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
               "LOCAL_FILES_SERVING_ENABLED": "true", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(docroot),
               "USE_DEFAULT_BANNED_SUBNETS": "false", "COLLECT_ANALYTICS": "false"}
        log = open(tmp / "logs.txt", "w")
        procs.append(subprocess.Popen([str(LS_VENV / "bin" / "label-studio"), "start", "--no-browser", "--port",
                                       str(ls_port), "--host", ls_url, "--username", "bench@samkit.dev", "--password",
                                       "samkit-bench-pw", "--user-token", TOKEN], cwd=tmp, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))
        procs.append(subprocess.Popen([sys.executable, "-m", "samkit", "label-studio", "--port", str(be_port), "--model",
                                       args.model, "--dataset-dir", str(tmp / "ds"), "--cache-dir", str(tmp / "emb")],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        wait_up(ls_url, procs[0], 300)
        wait_up(be_url, procs[1], 300)
        project = sdk("project", url=ls_url, token=TOKEN, title="samkit bench", label_config=CONFIG,
                      storage_path=str(docroot / "images"), ml_url=be_url)
        tasks = sorted(project["tasks"], key=lambda t: t["data"]["image"])
        ls = httpx.Client(base_url=ls_url, headers={"Authorization": f"Token {TOKEN}"}, timeout=600)
        backend = httpx.Client(base_url=be_url, timeout=600)

        def through_ls(task: dict, regions: list[dict]) -> float:
            t0 = time.perf_counter()
            r = ls.post(f"/api/ml/{project['ml']}/interactive-annotating", json={"task": task["id"], "context": {"result": regions}})
            dt = time.perf_counter() - t0
            assert r.status_code == 200 and r.json().get("data", {}).get("result"), r.text[:500]
            return dt

        def direct(task: dict, regions: list[dict]) -> float:
            t0 = time.perf_counter()
            r = backend.post("/predict", json={"tasks": [task], "project": f"{project['project']}.0",
                                               "label_config": CONFIG, "params": {"context": {"result": regions}}})
            dt = time.perf_counter() - t0
            assert r.status_code == 200, r.text[:500]
            return dt

        predictor = SamPredictor(load_model(args.model).eval())
        encodes, firsts = [], []
        for task, img in zip(tasks, imgs):  # interleaved: encoder alone, then a first click on a new image
            t0 = time.perf_counter()
            predictor.set_image(img)
            encodes.append(time.perf_counter() - t0)
            firsts.append(through_ls(task, [click(50.0, 50.0, img.shape[:2])]))
        rng = np.random.default_rng(0)
        task, hw = tasks[0], imgs[0].shape[:2]
        later_ls, later_direct, regions = [], [], []
        for i in range(args.clicks):
            regions = regions[-4:] + [click(float(rng.uniform(10, 90)), float(rng.uniform(10, 90)), hw, i % 3 != 2)]
            later_ls.append(through_ls(task, regions))
            later_direct.append(direct(task, regions))
        load = os.getloadavg()
        ms = lambda v: f"{1000 * v:.0f}"  # noqa: E731
        rows = [
            ("encoder alone (SamPredictor.set_image), median", ms(np.median(encodes))),
            ("first click on an image, through Label Studio, median", ms(np.median(firsts))),
            ("first click - encoder", ms(np.median(firsts) - np.median(encodes))),
            (f"later clicks through Label Studio, p50 over {args.clicks}", ms(np.percentile(later_ls, 50))),
            (f"later clicks through Label Studio, p90 over {args.clicks}", ms(np.percentile(later_ls, 90))),
            (f"same clicks sent to the backend directly, p50", ms(np.percentile(later_direct, 50))),
        ]
        table = "\n".join(["| measurement | ms |", "|---|---:|"] + [f"| {a} | {b} |" for a, b in rows])
        text = (f"`python benchmarks/bench_label_studio.py --model {args.model} --clicks {args.clicks} --rounds {args.rounds}`"
                f" ({args.model}, random weights, {imgs[0].shape[1]} x {imgs[0].shape[0]} image, torch threads "
                f"{torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
                f"at the end, {time.strftime('%Y-%m-%d')}):\n\n{table}\n")
        print(text)
        if args.write_doc:
            doc = DOC.read_text()
            if BEGIN in doc and END in doc:
                head, rest = doc.split(BEGIN, 1)
                DOC.write_text(head + BEGIN + "\n" + text + END + rest.split(END, 1)[1])
                print(f"wrote {DOC}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
