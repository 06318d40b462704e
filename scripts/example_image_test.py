"""Smoke test of the thumbnails example's image, run the way Kubernetes runs it.

Starts the image like scripts/image_test.py does crunch's (read-only root, tmpfs /tmp,
no capabilities, numeric non-root user), then sends a real photo-like JPEG made with
Pillow and checks the answer is a PNG of the right size, that the several-sizes
handler answers, that crunch's own tasks are still there, and that the image needs
no CRUNCH_TASK_MODULES of its own. Only 127.0.0.1; every wait is bounded.
Usage: python scripts/example_image_test.py crunch-thumbnails:0.1.0  (needs Pillow)
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_test import Checks, docker  # a sibling script, not a package


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 (127.0.0.1 only)
    req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def photo(width: int, height: int) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient, Image.effect_noise((width, height), 40), gradient))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def main(image: str) -> int:
    checks = Checks()
    cid = docker(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp:rw,size=64m",  # noqa: S108
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--user", "10001:10001", "--publish", "127.0.0.1::8080",
        "--env", "CRUNCH_WORKERS=2", "--env", "CRUNCH_LOG_FORMAT=text", image,
    )  # fmt: skip
    try:
        port = docker("port", cid, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(base + "/readyz", timeout=2) as resp,  # noqa: S310
            ):
                ready = resp.status == 200
            if not ready:
                time.sleep(0.3)
        checks.expect(ready, "/readyz 200 within 60 s")
        if not ready:
            return 1
        jpeg = photo(1280, 800)
        status, headers, body = post(base + "/work/thumbnail?size=160", jpeg, "image/jpeg")
        ok = status == 200 and headers.get("content-type") == "image/png"
        size = Image.open(io.BytesIO(body)).size if ok else None
        checks.expect(ok and size == (160, 100), f"JPEG 1280x800 -> PNG 160x100 ({status}, {size})")
        checks.expect("x-worker" in headers, "the answer names its worker (X-Worker)")
        status, _, body = post(base + "/thumbnails?sizes=32,64", photo(640, 640), "image/jpeg")
        made = json.loads(body).get("thumbnails", {}) if status == 200 else {}
        several = made.get("64", {}).get("width") == 64
        checks.expect(several, f"POST /thumbnails makes several sizes ({status})")
        status, _, body = post(base + "/work/thumbnail", b"not an image", "image/png")
        checks.expect(status == 422, f"a body that is no image -> 422 ({status})")
        with urllib.request.urlopen(base + "/tasks", timeout=5) as resp:  # noqa: S310
            names = {t["name"] for t in json.load(resp)["tasks"]}
        checks.expect({"thumbnail", "spin"} <= names, "crunch's tasks and the project's together")
    finally:
        if checks.failed:
            print(docker("logs", "--tail", "40", cid, check=False))
        docker("rm", "--force", cid, check=False)
    print(
        f"example-image-test: {len(checks.failed)} failed"
        if checks.failed
        else "example-image-test: all checks passed"
    )
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "crunch-thumbnails:0.1.0"))
