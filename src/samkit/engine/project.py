"""An engine project: a folder holding the store, the models of each round and the stage-3 outputs.

    DIR/engine.toml          images folder (absolute), model spec, created_at
    DIR/engine.sqlite        the store (samkit.engine.store)
    DIR/models/round_<k>/    model.safetensors + metrics.json of round k (round 0 = the starting model)
    DIR/auto/<image_id>.json SA-1B-format JSON per image written by stage 3
    DIR/export/round_<k>/    COCO JSON exported for retraining round k

The model spec is "builtin" (samkit's built-in SAM), "sam2" (the built-in SAM 2) or a checkpoint
path (official .pth or samkit .safetensors). Once a retrain is adopted, the project's model is the
newest adopted round's checkpoint; the spec stays as the starting point.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from samkit.engine.store import EngineStore
from samkit.errors import InputError

CONFIG_FILE, STORE_FILE = "engine.toml", "engine.sqlite"
BUILTIN_SPECS = ("builtin", "sam2")


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _check_model_spec(model: str | None) -> str:
    spec = model or "builtin"
    if spec in BUILTIN_SPECS:
        return spec
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"--model {spec!r}: expected 'builtin', 'sam2' or an existing checkpoint file")
    return str(path.resolve())


@dataclass
class EngineProject:
    dir: Path
    images_folder: Path
    model_spec: str
    store: EngineStore

    def image_path(self, image_id: int) -> Path:
        return self.images_folder / self.store.image(image_id).path

    @property
    def auto_dir(self) -> Path:
        return self.dir / "auto"

    def round_dir(self, round_k: int) -> Path:
        return self.dir / "models" / f"round_{round_k}"

    def export_dir(self, round_k: int) -> Path:
        return self.dir / "export" / f"round_{round_k}"

    def current_model_path(self) -> Path | str:
        """The newest adopted round's checkpoint, else the spec ('builtin' / 'sam2' or a file)."""
        row = self.store.current_model()
        if row is not None and row.round > 0:
            return Path(row.path)
        return self.model_spec if self.model_spec in BUILTIN_SPECS else Path(self.model_spec)

    def current_checkpoint_file(self) -> Path:
        """current_model_path() as a file (a built-in name resolves to its packaged weights)."""
        spec = self.current_model_path()
        if isinstance(spec, Path):
            return spec
        from samkit.default_model import default_weights

        return default_weights(sam2=spec == "sam2")

    def load_model(self, device: str | None = "cpu"):
        """The project's current model, eval mode, float32 (nn.Module)."""
        from samkit.build import load_model

        spec = self.current_model_path()
        if spec == "builtin":
            return load_model(device=device, dtype="float32")
        if spec == "sam2":
            return load_model("sam2", device=device, dtype="float32")
        return load_model(checkpoint=spec, device=device, dtype="float32")


def scan_images(images_folder: Path) -> tuple[list[tuple[str, int, int]], list[tuple[str, str]]]:
    """Decode every image under the folder: ([(relative path, height, width)], [(relative path, error)])."""
    from samkit.data.plain_images import list_images
    from samkit.errors import SamkitError
    from samkit.image_io import load_image

    ok, failed = [], []
    for path in list_images(images_folder):
        rel = path.relative_to(images_folder).as_posix()
        try:
            h, w = load_image(path).shape[:2]
        except (SamkitError, OSError, ValueError) as e:  # a bad file is recorded, the rest goes on
            failed.append((rel, str(e).splitlines()[0] if str(e) else type(e).__name__))
            continue
        ok.append((rel, int(h), int(w)))
    return ok, failed


def init_project(dir: str | Path, images_folder: str | Path, model: str | None = None) -> EngineProject:
    """Create a project in `dir` over the images of `images_folder`; InputError if dir already has one.

    An image that fails to decode is stored with status 'failed' (and its error), never fatal."""
    root = Path(dir).resolve()
    if (root / CONFIG_FILE).exists() or (root / STORE_FILE).exists():
        raise InputError(f"{root} already holds an engine project; open it, or pick another folder")
    images = Path(images_folder).expanduser()
    if not images.is_dir():
        raise InputError(f"--images {images}: not a folder")
    spec = _check_model_spec(model)
    ok, failed = scan_images(images.resolve())
    if not ok and not failed:
        raise InputError(f"--images {images}: no images found (.jpg .jpeg .png .tif .tiff .bmp .webp)")
    root.mkdir(parents=True, exist_ok=True)
    store = EngineStore(root / STORE_FILE)
    store.add_images(ok + [(rel, 0, 0) for rel, _ in failed])
    by_path = {r.path: r.id for r in store.images()}
    for rel, err in failed:
        store.mark_failed(by_path[rel], err)
    text = (f"images_folder = {_toml_str(str(images.resolve()))}\nmodel = {_toml_str(spec)}\n"
            f"created_at = {time.time():.3f}\n")
    _atomic_write_text(root / CONFIG_FILE, text)  # written last: a half-made project is not a project
    return EngineProject(root, images.resolve(), spec, store)


def open_project(dir: str | Path) -> EngineProject:
    import tomllib

    root = Path(dir).resolve()
    cfg_path = root / CONFIG_FILE
    if not cfg_path.is_file() or not (root / STORE_FILE).is_file():
        raise InputError(f"{root} is not an engine project (no {CONFIG_FILE}); create one with `samkit engine init`")
    try:
        cfg = tomllib.loads(cfg_path.read_text())
        images, spec = Path(cfg["images_folder"]), str(cfg["model"])
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise InputError(f"{cfg_path}: damaged project file ({e})") from None
    return EngineProject(root, images, spec, EngineStore(root / STORE_FILE))
