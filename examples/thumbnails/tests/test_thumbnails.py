"""The thumbnails project against a real crunch server (its workers run Pillow).

The server is started the way a user starts it: ``crunch serve`` from the project
directory with ``CRUNCH_TASK_MODULES=thumbnails.tasks``. Images are made with Pillow.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

PROJECT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    crunch = shutil.which("crunch", path=str(Path(sys.executable).parent)) or "crunch"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUNCH_")}
    env.update(
        CRUNCH_TASK_MODULES="thumbnails.tasks", CRUNCH_WORKERS="2", CRUNCH_MAX_BODY="4000000"
    )
    log = tmp_path_factory.mktemp("thumbnails") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [crunch, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A real picture-like image: a gradient with noise, encoded as ``fmt``."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    image = Image.merge("RGB", (gradient, noise, gradient.rotate(90).resize((width, height))))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def test_a_photo_becomes_a_png_thumbnail(url: str) -> None:
    r = httpx.post(
        url + "/work/thumbnail",
        params={"size": 128},
        content=photo(1200, 800),
        headers={"content-type": "image/jpeg"},
        timeout=30,
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-worker"]
    with Image.open(io.BytesIO(r.content)) as thumb:
        assert thumb.format == "PNG"
        assert thumb.size == (128, 85)  # the longest side fits, the aspect is kept


def test_a_png_with_alpha_keeps_it(url: str) -> None:
    image = Image.new("RGBA", (300, 300), (255, 0, 0, 128))
    out = io.BytesIO()
    image.save(out, "PNG")
    r = httpx.post(
        url + "/work/thumbnail?size=32",
        content=out.getvalue(),
        headers={"content-type": "image/png"},
    )
    with Image.open(io.BytesIO(r.content)) as thumb:
        assert thumb.size == (32, 32) and thumb.mode == "RGBA"


def test_not_an_image_is_422(url: str) -> None:
    r = httpx.post(
        url + "/work/thumbnail",
        content=b"hello, not a picture",
        headers={"content-type": "image/png"},
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"


def test_a_json_body_is_415(url: str) -> None:
    r = httpx.post(url + "/work/thumbnail", json={"size": 10})
    assert r.status_code == 415


def test_several_sizes_at_once_through_the_handler(url: str) -> None:
    r = httpx.post(
        url + "/thumbnails",
        params={"sizes": "64,256"},
        content=photo(1000, 1000, "PNG"),
        headers={"content-type": "image/png"},
        timeout=30,
    )
    assert r.status_code == 200
    made = r.json()["thumbnails"]
    assert (made["64"]["width"], made["256"]["height"]) == (64, 256)
    with Image.open(io.BytesIO(base64.b64decode(made["256"]["png_base64"]))) as thumb:
        assert thumb.size == (256, 256)


def test_the_project_shows_in_tasks_and_openapi(url: str) -> None:
    tasks = {t["name"]: t for t in httpx.get(url + "/tasks").json()["tasks"]}
    assert tasks["thumbnail"]["body"] == ["image/*"]
    assert "/thumbnails" in httpx.get(url + "/openapi.json").json()["paths"]
