"""A photo-like JPEG for the thumbnails example's checks (the image test, the e2e test,
the benchmark): a gradient with noise, which JPEG cannot shrink to nothing. Needs Pillow
(``make example-deps``)."""

from __future__ import annotations

import io

from PIL import Image


def photo(width: int, height: int, quality: int = 75) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    turned = gradient.rotate(90).resize((width, height))
    image = Image.merge("RGB", (gradient, noise, turned))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
