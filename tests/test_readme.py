"""The README documents what the code does: its settings table is the code's own."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_readme_settings_table_matches_the_code() -> None:
    table = subprocess.run(
        [sys.executable, "-m", "app", "settings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    readme = (ROOT / "README.md").read_text()
    missing = [line for line in table.splitlines() if line not in readme]
    assert not missing, "README is out of date; paste `crunch settings` into it:\n" + "\n".join(
        missing
    )


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text()[:600]
    assert "make run" in head
    assert "make test" in head
