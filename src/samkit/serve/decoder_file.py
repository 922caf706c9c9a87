"""The ONNX decoder the page runs: exported once per model, kept in FOLDER/.samkit/models/.

The file name carries a fingerprint of the prompt encoder's and mask decoder's weights and of the
export options, so a server restarted with the same model reuses the file, and a different model
never gets a stale decoder. Exporting takes seconds to a minute, so it runs in a background thread
started with the server; a request for the file waits for it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from torch import nn

EXPORT_FORMAT = "samkit.onnx-decoder.v1"  # bump when the exported graph changes


def decoder_key(model: nn.Module, quantize: bool) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{EXPORT_FORMAT} quantize={quantize}".encode())
    cfg = getattr(model, "config", None)
    if cfg is not None:
        h.update(cfg.to_json().encode())
    for part in (model.prompt_encoder, model.mask_decoder):
        for name, tensor in sorted(part.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


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
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if self.path.is_file():
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self.error is None

    def start(self) -> None:
        with self._lock:
            if self._done.is_set() or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._export, name="samkit-onnx-export", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> Path:
        """The file's path once it exists; raises RuntimeError if the export failed or timed out."""
        self.start()
        if not self._done.wait(timeout):
            raise RuntimeError("the ONNX decoder is still being exported; try again shortly")
        if self.error is not None:
            raise RuntimeError(f"exporting the ONNX decoder failed: {self.error}")
        return self.path

    def _export(self) -> None:
        from samkit.export import export_decoder, quantize_decoder

        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            fp32 = self.path.with_name(self.path.name.replace(".int8.onnx", ".onnx"))
            if not fp32.is_file():
                export_decoder(self.model, fp32)
            if self.quantize:
                quantize_decoder(fp32, self.path)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self._done.set()
