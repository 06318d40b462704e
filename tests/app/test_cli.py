"""The ``crunch`` command: subcommands reach their handlers with their own flags."""

from __future__ import annotations

import pytest

from app.cli import main


def test_haproxy_config_takes_its_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["haproxy-config", "--count", "3"]) == 0
    config = capsys.readouterr().out
    assert "balance leastconn" in config
    assert "server hello-2 127.0.0.1:8084 maxconn 1" in config


def test_settings_prints_a_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings"]) == 0
    assert capsys.readouterr().out.startswith("| variable | default |")


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2
