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


def _error_table() -> dict[str, set[int]]:
    """code → statuses, from the README's error table."""
    readme = (ROOT / "README.md").read_text()
    after = readme.split("### Errors", 1)[1]
    section = after[after.index("| status |") :].split("\n\n", 1)[0]
    table: dict[str, set[int]] = {}
    for row in section.splitlines()[2:]:
        status_cell, codes_cell = row.split("|")[1:3]
        status = int(status_cell.strip().split()[0])
        for code in codes_cell.replace("`", "").split(","):
            table.setdefault(code.strip(), set()).add(status)
    return table


def test_readme_error_table_lists_every_error_the_code_has() -> None:
    from app import errors
    from app.openapi import ERROR_STATUSES
    from app.responses import HTTP_CODES

    table = _error_table()
    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.CrunchError)
        and cls is not errors.CrunchError
    ]
    for cls in classes:
        assert cls.status in table.get(cls.code, set()), f"{cls.code} ({cls.status})"
    assert 500 in table["internal"]  # the catch-all handler's code
    # Starlette's own errors (404, 405 with Allow, 400) answer with these codes.
    for status, code in HTTP_CODES.items():
        assert status in table.get(code, set()), f"{code} ({status})"
    # And the OpenAPI document promises the same codes under the same statuses.
    for status, (_, codes) in ERROR_STATUSES.items():
        for code in codes:
            assert status in table.get(code, set()), f"openapi: {code} ({status})"
