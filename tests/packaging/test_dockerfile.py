"""The Dockerfile keeps its promises (read statically; `make image-test` runs the image)."""

from __future__ import annotations

import json
import re

from tests.packaging.kube import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Instructions with their continuation lines joined, comments dropped.
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def instructions(keyword: str) -> list[str]:
    return [i.split(None, 1)[1] for i in INSTRUCTIONS if i.split(None, 1)[0].upper() == keyword]


def final_stage() -> list[str]:
    last_from = max(i for i, line in enumerate(INSTRUCTIONS) if line.upper().startswith("FROM "))
    return INSTRUCTIONS[last_from:]


def test_base_image_is_an_argument_defaulting_to_official_slim_python() -> None:
    (arg,) = [a for a in instructions("ARG") if a.startswith("BASE_IMAGE=")]
    assert re.fullmatch(r"BASE_IMAGE=python:3\.11-slim(-bookworm)?", arg)
    froms = instructions("FROM")
    assert len(froms) >= 2, "multi-stage"
    assert all(f.startswith("${BASE_IMAGE}") for f in froms)


def test_runtime_runs_as_numeric_non_root_user() -> None:
    users = [line.split(None, 1)[1] for line in final_stage() if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 10000
    assert gid.isdigit()


def test_entrypoint_and_healthcheck_are_exec_form() -> None:
    (entrypoint,) = instructions("ENTRYPOINT")
    # tini as PID 1 (reaps orphans, forwards signals), crunch its only child.
    assert json.loads(entrypoint) == ["/usr/bin/tini", "--", "/opt/crunch/bin/crunch"]
    (cmd,) = instructions("CMD")
    assert json.loads(cmd) == ["serve"]
    (health,) = instructions("HEALTHCHECK")
    assert json.loads(health.split("CMD", 1)[1].strip())[0].endswith("python")


def test_oci_labels() -> None:
    labels = " ".join(instructions("LABEL"))
    for key in ("title", "version", "revision", "created", "licenses", "description"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerignore_is_an_allowlist() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {"!app/", "!pyproject.toml", "!requirements.txt"} <= set(lines)
