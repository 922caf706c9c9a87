"""`samkit download` against a server on 127.0.0.1: resume, checksum, atomic rename, offline errors."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from samkit.download import OFFICIAL_CHECKPOINTS, download_checkpoint
from samkit.errors import DownloadError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the first full GET is cut off half-way (a dropped link)."""

    requests: list[str | None] = []
    cut_first = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not rng and type(self).cut_first:
            type(self).cut_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-transfer
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    _RangeHandler.requests, _RangeHandler.cut_first = [], True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/sam_vit_b_01ec64.pth"
    srv.shutdown()


def test_interrupted_download_resumes_and_verifies(server, tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download_checkpoint("vit_b", tmp_path, url=server, sha256=sha, progress=False, timeout_s=5)
    part = tmp_path / "sam_vit_b_01ec64.pth.part"
    assert part.exists() and 0 < part.stat().st_size < len(PAYLOAD)
    assert not (tmp_path / "sam_vit_b_01ec64.pth").exists()  # never a half file under the real name
    path = download_checkpoint("vit_b", tmp_path, url=server, sha256=sha, progress=False, timeout_s=5)
    assert path.read_bytes() == PAYLOAD and not part.exists()
    assert _RangeHandler.requests[-1] == f"bytes={len(PAYLOAD) // 2}-"
    # Already there and verified: no new request.
    n = len(_RangeHandler.requests)
    assert download_checkpoint("vit_b", tmp_path, url=server, sha256=sha, progress=False) == path
    assert len(_RangeHandler.requests) == n


def test_checksum_mismatch_removes_partial(server, tmp_path):
    _RangeHandler.cut_first = False
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_checkpoint("vit_b", tmp_path, url=server, sha256="0" * 64, progress=False)
    assert not list(tmp_path.iterdir())


def test_existing_wrong_file_is_not_overwritten(server, tmp_path):
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"my own file")
    with pytest.raises(DownloadError, match="move it away"):
        download_checkpoint("vit_b", tmp_path, url=server, progress=False)
    assert (tmp_path / "sam_vit_b_01ec64.pth").read_bytes() == b"my own file"


def test_unreachable_host_is_a_clear_error(tmp_path):
    with pytest.raises(DownloadError, match="cannot reach"):
        download_checkpoint("vit_b", tmp_path, url="http://127.0.0.1:9/none.pth", progress=False, timeout_s=2)


def test_official_table():
    assert {c.filename for c in OFFICIAL_CHECKPOINTS.values()} == {
        "sam_vit_b_01ec64.pth", "sam_vit_l_0b3195.pth", "sam_vit_h_4b8939.pth", "mobile_sam.pt"}
    assert all(len(c.sha256) == 64 for c in OFFICIAL_CHECKPOINTS.values())
