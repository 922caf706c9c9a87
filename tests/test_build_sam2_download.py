"""SAM 2 downloads and from_pretrained, without the network: a server on 127.0.0.1, an unreachable
port, and a stand-in huggingface_hub module."""

from __future__ import annotations

import http.server
import io
import sys
import threading
import types

import pytest
import torch

from samkit.builder_sam2 import from_pretrained, pretrained_checkpoint_path
from samkit.cli.main import main
from samkit.download import OFFICIAL_CHECKPOINTS, OFFICIAL_SAM2_CHECKPOINTS, download_checkpoint, sha256_of
from samkit.errors import DownloadError, InputError


def test_sam2_table():
    base = "https://dl.fbaipublicfiles.com/segment_anything_2"
    assert OFFICIAL_SAM2_CHECKPOINTS["sam2.1_hiera_t"].url == f"{base}/092824/sam2.1_hiera_tiny.pt"
    assert OFFICIAL_SAM2_CHECKPOINTS["sam2.1_hiera_b+"].url == f"{base}/092824/sam2.1_hiera_base_plus.pt"
    assert OFFICIAL_SAM2_CHECKPOINTS["sam2_hiera_l"].url == f"{base}/072824/sam2_hiera_large.pt"
    assert len(OFFICIAL_SAM2_CHECKPOINTS) == 8 and not set(OFFICIAL_SAM2_CHECKPOINTS) & set(OFFICIAL_CHECKPOINTS)
    # No SHA-256 is published for these files (see samkit.download): none is made up.
    assert all(c.sha256 is None for c in OFFICIAL_SAM2_CHECKPOINTS.values())


def _torch_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"model": {"w": torch.arange(1000.0)}}, buf)
    return buf.getvalue()


@pytest.fixture()
def serve():
    """serve(payload) -> URL of a one-file server on 127.0.0.1."""
    servers = []

    def start(payload: bytes) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/sam2.1_hiera_tiny.pt"

    yield start
    for srv in servers:
        srv.shutdown()


def test_download_without_published_hash_prints_the_computed_one(serve, tmp_path, capsys):
    payload = _torch_bytes()
    url = serve(payload)
    path = download_checkpoint("sam2.1_hiera_tiny", tmp_path, url=url, progress=False)  # an alias works too
    assert path == tmp_path / "sam2.1_hiera_tiny.pt" and path.read_bytes() == payload
    assert sha256_of(path) in capsys.readouterr().err
    assert download_checkpoint("sam2.1_hiera_t", tmp_path, url="http://127.0.0.1:9/x.pt", progress=False) == path


def test_download_rejects_a_non_checkpoint_when_no_hash_is_known(serve, tmp_path):
    url = serve(b"<html>not here</html>")
    with pytest.raises(DownloadError, match="did not return a PyTorch checkpoint"):
        download_checkpoint("sam2_hiera_s", tmp_path, url=url, progress=False)
    assert not list(tmp_path.iterdir())


def test_download_offline_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(DownloadError, match="cannot reach .*no network"):
        download_checkpoint("sam2.1_hiera_l", tmp_path, url="http://127.0.0.1:9/none.pt", progress=False,
                            timeout_s=2)
    rc = main(["download", "sam2.1_hiera_b+", "--dir", str(tmp_path), "--url", "http://127.0.0.1:9/none.pt",
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "cannot reach" in err


def test_download_unknown_name(tmp_path):
    with pytest.raises(InputError, match="sam2.1_hiera_t"):
        download_checkpoint("sam2_test_tiny", tmp_path)


@pytest.fixture()
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_from_pretrained_offline_without_huggingface_hub(empty_home, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails: not installed
    with pytest.raises(DownloadError, match="huggingface_hub is not installed; run `samkit download "
                                            "sam2.1_hiera_l`.*ckpt_path"):
        from_pretrained("facebook/sam2.1-hiera-large", device="cpu")


def test_from_pretrained_offline_with_huggingface_hub(empty_home, monkeypatch):
    calls = []

    def hf_hub_download(repo_id, filename):
        calls.append((repo_id, filename))
        raise OSError("We couldn't connect to 'https://huggingface.co' to load this file.\nmore")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=hf_hub_download))
    with pytest.raises(DownloadError, match="cannot get sam2_hiera_tiny.pt from the Hugging Face hub "
                                            "\\(OSError: We couldn't connect.*samkit download sam2_hiera_t"):
        from_pretrained("facebook/sam2-hiera-tiny")
    assert calls == [("facebook/sam2-hiera-tiny", "sam2_hiera_tiny.pt")]


def test_pretrained_path_prefers_samkit_downloads(empty_home, monkeypatch):
    local = empty_home / "checkpoints" / "sam2.1_hiera_small.pt"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"PK")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    assert pretrained_checkpoint_path("facebook/sam2.1-hiera-small") == local
    assert pretrained_checkpoint_path("sam2.1_hiera_s") == local
    hub_file = empty_home / "hub.pt"
    monkeypatch.setitem(sys.modules, "huggingface_hub",
                        types.SimpleNamespace(hf_hub_download=lambda repo_id, filename: str(hub_file)))
    assert pretrained_checkpoint_path("facebook/sam2.1-hiera-large") == hub_file


def test_from_pretrained_unknown_model():
    with pytest.raises(InputError, match="no pretrained SAM 2 weights"):
        from_pretrained("sam2_test_tiny")
    with pytest.raises(InputError, match="no pretrained SAM 2 weights"):
        from_pretrained("facebook/sam-vit-huge")
