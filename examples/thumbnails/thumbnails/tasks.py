"""The thumbnail task and a handler that makes several sizes at once.

``POST /work/thumbnail?size=128`` with an image as the body (``image/*``) answers a PNG
that fits in size x size pixels. ``POST /thumbnails?sizes=64,128,256`` runs one task
per size in parallel on the worker pool and answers their dimensions and PNGs (base64).
Pillow decodes and resizes in a worker process; the server's event loop only passes
bytes along.
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.requests import Request

from app.errors import InvalidParams
from app.handlers import read_body, route, run
from app.tasks import Binary, Param, Rejected, task

# Larger images are refused before they are decoded: a small compressed file can
# hold a huge bitmap (a "decompression bomb").
MAX_PIXELS = 40_000_000
SIZES_LIMIT = 8


@task(
    Param("size", int, default=128, minimum=8, maximum=2048, doc="longest side, pixels"),
    body="image/*",
    answers="image/png",
    timeout=10.0,
)
def thumbnail(body: memoryview, size: int) -> Binary:
    """Resize an image to fit in size x size pixels (aspect kept); answer a PNG."""
    try:
        image = Image.open(io.BytesIO(body))
    except UnidentifiedImageError:
        raise Rejected("the body is not an image Pillow can read") from None
    with image:
        if image.width * image.height > MAX_PIXELS:
            raise Rejected(f"{image.width}x{image.height} is more than {MAX_PIXELS} pixels")
        try:
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
        except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
            raise Rejected(f"the image cannot be decoded: {exc}") from None
        small: Image.Image = image
        if small.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
            small = small.convert("RGBA" if "A" in small.mode else "RGB")
        out = io.BytesIO()
        small.save(out, "PNG")
    return Binary(out.getbuffer(), "image/png")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidParams("sizes must be a comma-separated list of integers") from None
    if not 0 < len(sizes) <= SIZES_LIMIT:
        raise InvalidParams(f"give 1 to {SIZES_LIMIT} sizes")
    return sizes


@route("/thumbnails", methods=["POST"])
async def thumbnails(request: Request) -> dict[str, Any]:
    """Several thumbnails of one image at once (query: sizes=64,128,256); PNGs in base64."""
    sizes = _sizes(request.query_params.get("sizes", "64,128,256"))
    body = await read_body(request, ("image/*",))
    pngs: list[Binary] = await asyncio.gather(*(run("thumbnail", body=body, size=s) for s in sizes))
    out: dict[str, Any] = {}
    for size, png in zip(sizes, pngs, strict=True):
        with Image.open(io.BytesIO(png.data)) as image:
            width, height = image.size
        out[str(size)] = {
            "width": width,
            "height": height,
            "png_base64": base64.b64encode(png.data).decode(),
        }
    return {"thumbnails": out}
