"""Prometheus' own checker, as a stranger would run it on what crunch exposes and ships.

`make test` installs it first (scripts/promtool-install.sh, into .cache/bin); a test
that needs it is skipped, saying how to get it, where it is absent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def promtool() -> str:
    local = ROOT / ".cache" / "bin" / "promtool"
    found = str(local) if local.exists() else shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not installed: run `make promtool` (`make test` installs it first)")
    return found


def check(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`promtool check <args>`; its findings are in stdout + stderr."""
    return subprocess.run(
        [promtool(), "check", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
