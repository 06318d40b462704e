"""12. A user's project runs under the same chart: the thumbnails example
(examples/thumbnails, its image built FROM the crunch image under test by `make
example-image`, its values file examples/thumbnails/values.yaml) answers a real JPEG
through the Ingress with a PNG thumbnail, and its handler makes several sizes at once."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from tests.e2e.cluster import ROOT, Cluster
from tools.photo import photo

VALUES = ROOT / "examples" / "thumbnails" / "values.yaml"


def test_the_thumbnails_example_answers_through_the_ingress(kind: Cluster) -> None:
    cluster = kind
    cluster.deploy("thumbnails", "-f", str(VALUES), image=cluster.example_image)
    jpeg = photo(1200, 800)
    with httpx.Client(base_url=cluster.ingress_url, timeout=60) as client:
        r = client.post(
            "/work/thumbnail?size=160", content=jpeg, headers={"content-type": "image/jpeg"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(r.content)) as thumb:
            assert max(thumb.size) == 160, thumb.size
        r = client.post(
            "/thumbnails?sizes=32,64", content=jpeg, headers={"content-type": "image/jpeg"}
        )
        assert r.status_code == 200, r.text
        r = client.post(
            "/work/thumbnail", content=b"not an image", headers={"content-type": "image/png"}
        )
        assert 400 <= r.status_code < 500, r.text
        assert set(r.json()) == {"error", "detail"}
