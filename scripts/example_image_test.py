"""Smoke test of the thumbnails example's image, run the way Kubernetes runs it.

Starts the image like scripts/image_test.py does crunch's (read-only root, tmpfs /tmp,
no capabilities, numeric non-root user), then sends a real photo-like JPEG made with
Pillow and checks the answer is a PNG of the right size, that the several-sizes
handler answers, that crunch's own tasks are still there, and that the image needs
no CRUNCH_TASK_MODULES of its own. Only 127.0.0.1; every wait is bounded.
Usage: python scripts/example_image_test.py crunch-thumbnails:0.1.0  (needs Pillow)
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_test import RESTRICTED, Checks, container, http, ready  # a sibling script

from tools.photo import photo


def main(image: str) -> int:
    checks = Checks()
    with container(
        checks, *RESTRICTED, "--env", "CRUNCH_WORKERS=2", "--env", "CRUNCH_LOG_FORMAT=text", image
    ) as (cid, base):
        if ready(checks, cid, base):
            in_container(checks, base)
    return checks.verdict("example-image-test")


def in_container(checks: Checks, base: str) -> None:
    def post(path: str, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        return http(base, "POST", path, body, timeout=30, content_type=content_type)

    jpeg = photo(1280, 800)
    status, headers, body = post("/work/thumbnail?size=160", jpeg, "image/jpeg")
    ok = status == 200 and headers.get("content-type") == "image/png"
    size = Image.open(io.BytesIO(body)).size if ok else None
    checks.expect(ok and size == (160, 100), f"JPEG 1280x800 -> PNG 160x100 ({status}, {size})")
    checks.expect("x-worker" in headers, "the answer names its worker (X-Worker)")
    status, _, body = post("/thumbnails?sizes=32,64", photo(640, 640), "image/jpeg")
    made = json.loads(body).get("thumbnails", {}) if status == 200 else {}
    several = made.get("64", {}).get("width") == 64
    checks.expect(several, f"POST /thumbnails makes several sizes ({status})")
    status, _, body = post("/work/thumbnail", b"not an image", "image/png")
    checks.expect(status == 422, f"a body that is no image -> 422 ({status})")
    status, _, body = http(base, "GET", "/tasks", timeout=5)
    names = {t["name"] for t in json.loads(body)["tasks"]} if status == 200 else set()
    checks.expect({"thumbnail", "spin"} <= names, "crunch's tasks and the project's together")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "crunch-thumbnails:0.1.0"))
