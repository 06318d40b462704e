"""``crunch``: the command line. Flags are built from the settings' declarations
(``app.config``), one to one with the ``CRUNCH_*`` names."""

from __future__ import annotations

import argparse
import os
import sys

from app import __version__
from app.config import SETTINGS, ConfigError, Settings, add_flags, settings_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crunch", description="Serve CPU-heavy Python work.")
    parser.add_argument("--version", action="version", version=f"crunch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API (uvicorn)")
    add_flags(serve, SETTINGS)
    commands.add_parser("settings", help="print every setting, its default and why (Markdown)")
    commands.add_parser(
        "haproxy-config", help="print the HAProxy config for local instances (see --help)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The balancer command has flags of its own: hand them over untouched.
    if argv[:1] == ["haproxy-config"]:
        from app.balancer.haproxy import main as haproxy_main

        return haproxy_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "settings":
        print("| variable | default | what it is for | watch |\n|---|---|---|---|")
        for name, default, doc, metric in settings_table():
            shown = f"`{metric}`" if metric else ""
            print(f"| `{name}` | `{default or '(empty)'}` | {doc} | {shown} |")
        return 0
    overrides = {s.name: getattr(args, s.name) for s in SETTINGS}
    # Like uvicorn's --app-dir: user task modules are found relative to where crunch runs.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        settings = Settings.load(overrides=overrides)
        from app.server import serve

        return serve(settings)
    except ConfigError as exc:
        print(f"crunch: configuration error: {exc}", file=sys.stderr)
        return 2
