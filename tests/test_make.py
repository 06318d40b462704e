"""The Makefile tells a newcomer what it can do: `make help` lists every documented target."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = re.compile(r"^([^\s:#=]+):[^=\n]*## ", re.MULTILINE)


def documented_targets() -> set[str]:
    files = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    return {name for f in files for name in DOCUMENTED.findall(f.read_text())}


def test_help_lists_every_documented_target() -> None:
    shown = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = {line.split()[0] for line in shown.splitlines() if line.strip()}
    targets = documented_targets()
    assert any(re.search(r"\d", t) for t in targets)  # names with digits (e2e) are covered
    assert targets <= listed
