"""The ONNX decoder the page runs: exported once per model, kept in FOLDER/.samkit/models/.

Besides the official-interface decoder (decoder-KEY.onnx, what other front-ends and the tests'
reference run), the page's fast pair is written beside it (export/decoder_split.py): split-image-KEY.onnx
(once per image) and split-prompt-KEY[.int8].onnx (per click), served at /models/decoder-image.onnx
and /models/decoder-prompt.onnx. The split pair is exported first,
since the page loads it first; a failed split export leaves the official decoder, which the page
falls back to.

The file name carries a fingerprint of the prompt encoder's and mask decoder's weights and of the
export options, so a server restarted with the same model reuses the file, and a different model
never gets a stale decoder. Exporting takes seconds to a minute, so it runs in a background thread
started with the server; a request for the file waits for it.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from pathlib import Path

from torch import nn

EXPORT_FORMAT = "samkit.onnx-decoder.v1"
SPLIT_FORMAT = "samkit.onnx-split-decoder.v1"
SAM2_SPLIT_FORMAT = "samkit.onnx-sam2-split-decoder.v1"  # bump when the exported graph changes


def decoder_key(model: nn.Module, quantize: bool, export_format: str = EXPORT_FORMAT, parts=None) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{export_format} quantize={quantize}".encode())
    cfg = getattr(model, "config", None)
    if cfg is not None:
        h.update(cfg.to_json().encode())
    for part in parts or (model.prompt_encoder, model.mask_decoder):
        for name, tensor in sorted(part.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def copy_for_export(model: nn.Module) -> nn.Module:
    """The model with its own copy of every module but the image encoder (shared, not copied).

    The exporters trace with the module's parameters swapped for fake tensors (torch.export), so a
    request decoding on the same modules in another thread at that moment fails ("fake_mode...");
    exporting a copy leaves the served model alone. The image encoder, by far the largest part, is
    never exported, so it is shared rather than copied, as is a compiled encoder backend (OpenVINO's
    objects cannot be copied).
    """
    shared = [getattr(model, name, None) for name in ("image_encoder", "encoder_backend")]
    return copy.deepcopy(model, {id(obj): obj for obj in shared if obj is not None})


class DecoderFile:
    """Produces and holds the path of the decoder ONNX file for `model`."""

    def __init__(self, model: nn.Module, models_dir: Path, quantize: bool = False,
                 provided: Path | None = None) -> None:
        self.model = model
        self.quantize = quantize
        self.models_dir = Path(models_dir)
        if provided is not None:
            self.path = Path(provided)
        else:
            suffix = ".int8.onnx" if quantize else ".onnx"
            self.path = self.models_dir / f"decoder-{decoder_key(model, quantize)}{suffix}"
        self.error: str | None = None
        self.split_error: str | None = None
        key = decoder_key(model, False, SPLIT_FORMAT)
        self.image_path = self.models_dir / f"split-image-{key}.onnx"
        self.prompt_path = self.models_dir / f"split-prompt-{key}{'.int8' if quantize else ''}.onnx"
        self._split_done = threading.Event()
        if provided is not None:  # the page runs the file it was given, not a split of samkit's model
            self.split_error = "a decoder file was provided (--decoder-onnx); the page runs that one"
            self._split_done.set()
        elif self.image_path.is_file() and self.prompt_path.is_file():
            self._split_done.set()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if self.path.is_file():
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self.error is None

    def start(self, official_first: bool = False) -> None:
        """Export in the background; the split pair first (the page loads it), unless official_first
        (a client asked for the official file first: it should not wait for the split export)."""
        with self._lock:
            if (self._done.is_set() and self._split_done.is_set()) or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._export, args=(official_first,), name="samkit-onnx-export",
                                            daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> Path:
        """The file's path once it exists; raises RuntimeError if the export failed or timed out."""
        self.start(official_first=True)
        if not self._done.wait(timeout):
            raise RuntimeError("the ONNX decoder is still being exported; try again shortly")
        if self.error is not None:
            raise RuntimeError(f"exporting the ONNX decoder failed: {self.error}")
        return self.path

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running export (the server's shutdown does: a process that exits while torch
        still traces in a daemon thread aborts with "terminate called without an active exception")."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def wait_split(self, timeout: float | None = None) -> tuple[Path, Path]:
        """(image graph, prompt graph) paths once they exist; RuntimeError if that export failed."""
        self.start()
        if not self._split_done.wait(timeout):
            raise RuntimeError("the page's decoder is still being exported; try again shortly")
        if self.split_error is not None:
            raise RuntimeError(f"exporting the page's split decoder failed: {self.split_error}")
        return self.image_path, self.prompt_path

    def _export(self, official_first: bool) -> None:
        # One thread does both, one after the other: torch.export is not safe to run concurrently.
        for step in ((self._export_official, self._export_split) if official_first
                     else (self._export_split, self._export_official)):
            step()

    def _export_split(self) -> None:
        from samkit.export.decoder_split import export_split_decoder

        try:
            if not self._split_done.is_set():
                self.models_dir.mkdir(parents=True, exist_ok=True)
                export_split_decoder(copy_for_export(self.model), self.image_path, self.prompt_path,
                                     quantize=self.quantize)
        except Exception as e:
            self.split_error = f"{type(e).__name__}: {e}"
        finally:
            self._split_done.set()

    def _export_official(self) -> None:
        from samkit.export import export_decoder, quantize_decoder

        if self._done.is_set():
            return
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            fp32 = self.path.with_name(self.path.name.replace(".int8.onnx", ".onnx"))
            if not fp32.is_file():
                export_decoder(copy_for_export(self.model), fp32)
            if self.quantize:
                quantize_decoder(fp32, self.path)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self._done.set()


class Sam2DecoderFile:
    """The SAM 2 split decoder (export/sam2_decoder_split.py) for the page, exported in a background thread
    on first request; until it exists (or if it fails) the page decodes on the server."""

    def __init__(self, model: nn.Module, models_dir: Path) -> None:
        self.model = model
        self.models_dir = Path(models_dir)
        key = decoder_key(model, False, SAM2_SPLIT_FORMAT, parts=(model.sam_prompt_encoder, model.sam_mask_decoder))
        self.image_path = self.models_dir / f"sam2-decoder-image-{key}.onnx"
        self.prompt_path = self.models_dir / f"sam2-decoder-prompt-{key}.onnx"
        self.error: str | None = None
        if not getattr(model.sam_mask_decoder, "use_high_res_features", False):
            self.error = "this SAM 2 model has no high-res features: it is decoded on the server"
        self._done = threading.Event()
        if self.error or (self.image_path.is_file() and self.prompt_path.is_file()):
            self._done.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._done.is_set() or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._export, name="samkit-sam2-onnx-export", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> tuple[Path, Path]:
        self.start()
        if not self._done.wait(timeout):
            raise RuntimeError("the SAM 2 page decoder is still being exported; try again shortly")
        if self.error is not None:
            raise RuntimeError(f"no SAM 2 page decoder: {self.error}")
        return self.image_path, self.prompt_path

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running export (the server's shutdown does: a process that exits while torch
        still traces in a daemon thread aborts with "terminate called without an active exception")."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _export(self) -> None:
        from samkit.export.sam2_decoder_split import export_sam2_split_decoder

        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            export_sam2_split_decoder(copy_for_export(self.model), self.image_path, self.prompt_path)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self._done.set()
