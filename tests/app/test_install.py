"""A non-editable install serves from a directory that holds its own ``app/`` package.

Users run ``crunch serve`` from their project, and many projects have an ``app/``
package of their own. Neither the server nor its workers may import that one in place
of crunch's. The install here is real: a wheel built from this tree, installed
(no editable hook) into a fresh virtual environment whose dependencies come from the
test environment's site-packages (a plain path, so its editable hook stays inactive).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port
from tools.procs import NotReady, spawn, stop_group, wait_ready

DECOY = '''"""The user's own app package: crunch must never import it."""
raise ImportError("the user's app package was imported in place of crunch's")
'''

USER_TASKS = '''from app.tasks import Param, task


@task(Param("word", str, max_length=20))
def shout(word: str) -> str:
    """Upper-case a word."""
    return word.upper()
'''


def _install(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(ROOT / "app", src / "app", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    dist = tmp_path / "dist"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = next(dist.glob("crunch-*.whl"))
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "crunch-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_crunch_serve_ignores_a_users_app_package(tmp_path: Path) -> None:
    venv = _install(tmp_path)
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "app" / "__init__.py").write_text(DECOY)
    (project / "usertasks.py").write_text(USER_TASKS)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRUNCH_", "PYTHON"))}
    env.update(CRUNCH_WORKERS="2", CRUNCH_TASK_MODULES="usertasks", CRUNCH_LOG_FORMAT="text")
    log = tmp_path / "server.log"
    argv = [str(venv / "bin" / "crunch"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = spawn(argv, env=env, log=log, cwd=project)
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url + "/readyz", exited=proc.poll, timeout=30, name="crunch serve")
        except NotReady as exc:
            raise AssertionError(f"{exc}\n{log.read_text(errors='replace')}") from None
        with httpx.Client(base_url=url, timeout=30) as client:
            spin = client.get("/work/spin", params={"n": 10})
            assert spin.status_code == 200 and spin.json()["result"] == 100
            shout = client.get("/work/shout", params={"word": "crunch"})
            assert shout.status_code == 200 and shout.json()["result"] == "CRUNCH"
    finally:
        stop_group(proc, grace=20)
