"""Smoke test of the crunch image, run the way Kubernetes runs it.

Starts the image with a read-only root filesystem, a tmpfs /tmp, no capabilities,
no privilege escalation and a numeric non-root user, then checks:
  - PID 1 of the container is tini with the server as its child (exec-form entrypoint,
    no shell), and it reaps an orphan a spawned program leaves behind;
  - every route answers (/, /tasks, /work, /batch, /hello, /world, /spawn, /healthz,
    /readyz, /openapi.json) and /metrics carries the autoscaling signal;
  - SIGTERM drains: /readyz turns 503, a request in flight still gets its answer,
    and the container exits 0 within the grace period.
Only talks to 127.0.0.1 (the container's port is published there); every wait is
bounded. Usage (from the repository root, in the venv):
PYTHONPATH=. python scripts/image_test.py crunch:0.1.0
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from tools.metrics import sample
from tools.procs import NotReady, wait_ready

DRAIN_TIMEOUT = 10  # CRUNCH_DRAIN_TIMEOUT given to the container
GRACE = DRAIN_TIMEOUT + 5  # what `docker stop -t` / terminationGracePeriodSeconds allows
MAX_IMAGE_MB = int(os.environ.get("IMAGE_MAX_MB", "150"))
IMAGE_PATH = "/opt/crunch/bin:/usr/local/bin:/usr/bin:/bin"
# How Kubernetes runs the image (the chart's securityContext): read-only root, a tmpfs
# /tmp, no capabilities, no privilege escalation, a numeric non-root user.
RESTRICTED = (
    "--read-only", "--tmpfs", "/tmp:rw,size=64m",  # noqa: S108 (the container's /tmp)
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "10001:10001",
)  # fmt: skip
# Mounted into the container and allowlisted for /spawn: exits at once, leaving a
# child that lives on for 2 s, then exits too: an orphan PID 1 must reap. (Python's
# Popen closes every inherited descriptor, so the orphan holds no output pipe open.)
ORPHAN_SCRIPT = """#!/opt/crunch/bin/python
from subprocess import DEVNULL, Popen
Popen(["sleep", "2"], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
print("left")
"""
# Run inside the container: "<zombies> <sleeps whose parent is PID 1>".
COUNT_ZOMBIES = """
import os
zombies = adopted = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as f:
            name, rest = f.read().rsplit(")", 1)
    except OSError:
        continue
    state, ppid = rest.split()[:2]
    zombies += state == "Z"
    adopted += name.endswith("(sleep") and ppid == "1"
print(zombies, adopted)
"""


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def http(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 10,
    content_type: str = "application/json",
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (names in lower case) and body. A ``bytes`` body is sent as it
    is, with ``content_type``; anything else as JSON."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    # Only ever http://127.0.0.1:<published port> (see container()).
    req = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, _lower(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers.items()), err.read()


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def expect(self, ok: bool, what: str) -> None:
        print(("  ok    " if ok else "  FAIL  ") + what)
        if not ok:
            self.failed.append(what)

    def verdict(self, name: str) -> int:
        """Print the outcome; the exit status."""
        print(f"{name}: {len(self.failed)} failed" if self.failed else f"{name}: all checks passed")
        return 1 if self.failed else 0


@contextlib.contextmanager
def container(checks: Checks, *run_args: str) -> Iterator[tuple[str, str]]:
    """``docker run --detach`` with ``run_args``: its id and the base URL of its port
    8080, published on 127.0.0.1 only. Removed at the end (its log shown if a check failed)."""
    cid = docker("run", "--detach", "--publish", "127.0.0.1::8080", *run_args)
    try:
        port = docker("port", cid, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        yield cid, f"http://127.0.0.1:{port}"
    finally:
        if checks.failed:
            print(docker("logs", "--tail", "40", cid, check=False))
        docker("rm", "--force", cid, check=False)


def ready(checks: Checks, cid: str, base: str) -> bool:
    """/readyz answers 200 within 60 s; a container that exits ends the wait at once."""

    def exited() -> int | None:
        state = docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", cid)
        running, code = state.split()
        return None if running == "true" else int(code)

    try:
        wait_ready(f"{base}/readyz", exited=exited, timeout=60, name="the container", interval=0.3)
        ok = True
    except NotReady as exc:
        print(f"  {exc}")
        ok = False
    checks.expect(ok, "/readyz 200 within 60 s")
    if not ok:
        print(docker("logs", cid, check=False))
    return ok


def main(image: str) -> int:
    checks = Checks()
    size_mb = int(docker("image", "inspect", "-f", "{{.Size}}", image)) / 1e6
    user = docker("image", "inspect", "-f", "{{.Config.User}}", image)
    checks.expect(size_mb < MAX_IMAGE_MB, f"image size {size_mb:.0f} MB < {MAX_IMAGE_MB} MB")
    checks.expect(
        user.split(":")[0].isdigit() and user != "0", f"image user is numeric, non-root ({user})"
    )
    labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", image))
    checks.expect("org.opencontainers.image.version" in labels, "OCI labels present")

    scripts = tempfile.mkdtemp(prefix="crunch-image-test-")
    orphan = os.path.join(scripts, "orphan")
    with open(orphan, "w") as out:
        out.write(ORPHAN_SCRIPT)
    os.chmod(scripts, 0o755)  # noqa: S103 (read by the container's non-root user)
    os.chmod(orphan, 0o755)  # noqa: S103
    try:
        with container(
            checks,
            *RESTRICTED,
            "--volume", f"{scripts}:/opt/test-programs:ro",
            "--env", f"PATH=/opt/test-programs:{IMAGE_PATH}",
            "--env", "CRUNCH_SPAWN_ALLOW=ls,orphan",
            "--env", "CRUNCH_WORKERS=2", "--env", f"CRUNCH_DRAIN_TIMEOUT={DRAIN_TIMEOUT}",
            "--env", "CRUNCH_LOG_FORMAT=text",
            image,
        ) as (cid, base):  # fmt: skip
            if ready(checks, cid, base):
                in_container(checks, cid, base)
    finally:
        shutil.rmtree(scripts, ignore_errors=True)
    return checks.verdict("image-test")


def in_container(checks: Checks, cid: str, base: str) -> None:
    """The checks against the running container."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", cid)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    checks.expect(
        os.path.basename(argv[0]) == "tini" and argv[2:3] == ["/opt/crunch/bin/crunch"],
        f"PID 1 is tini, the server its child, no shell: {' '.join(argv)}",
    )

    # A spawned program that leaves a child behind: once that orphan exits, PID 1
    # must reap it, or it stays a zombie for the container's life.
    status, _, body = http(base, "POST", "/spawn/orphan")
    checks.expect(status == 200 and b"left" in body, "POST /spawn/orphan leaves a child")
    seen = []
    for _ in range(40):
        seen.append(docker("exec", cid, "/opt/crunch/bin/python", "-c", COUNT_ZOMBIES))
        if seen[-1] == "0 0" and "0 1" in seen:
            break
        time.sleep(0.2)
    checks.expect(
        "0 1" in seen and seen[-1] == "0 0",
        f"PID 1 adopts the orphan and reaps it (zombies, adopted: {seen[0]} .. {seen[-1]})",
    )

    status, _, body = http(base, "GET", "/")
    checks.expect(status == 200 and b"<" in body, "GET / serves the HTML index")
    status, _, body = http(base, "GET", "/tasks")
    checks.expect(status == 200 and b"spin" in body, "GET /tasks lists spin")
    status, headers, body = http(base, "GET", "/work/spin?n=300")
    checks.expect(
        status == 200 and json.loads(body).get("result") == 90000 and "x-worker" in headers,
        "GET /work/spin?n=300 -> 90000 from a worker",
    )
    status, _, body = http(base, "POST", "/batch", [{"task": "noop", "params": {}}] * 3)
    checks.expect(status == 200 and len(json.loads(body)) == 3, "POST /batch answers every item")
    for route in ("/hello", "/world"):
        status, _, body = http(base, "GET", route)
        checks.expect(status == 200 and route[1:].encode() in body, f"GET {route}")
    status, _, body = http(base, "POST", "/spawn/ls", {"args": ["/opt"]})
    checks.expect(status == 200 and b"crunch" in body, "POST /spawn/ls runs without a shell")
    status, _, body = http(base, "GET", "/openapi.json")
    checks.expect(status == 200 and b'"paths"' in body, "GET /openapi.json")
    checks.expect(http(base, "GET", "/healthz")[0] == 200, "GET /healthz")
    status, _, body = http(base, "GET", "/metrics")
    text = body.decode()
    checks.expect(
        status == 200
        and sample(text, "crunch_saturation") is not None
        and sample(text, "crunch_pool_workers") == 2,
        "GET /metrics has crunch_saturation and 2 workers",
    )
    checks.expect(http(base, "GET", "/nope")[0] == 404, "unknown route -> 404")

    # Drain: a request in flight when SIGTERM arrives must still get its answer.
    inflight: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            inflight["status"] = http(base, "GET", "/work/spin?n=6000", timeout=GRACE)[0]
        except OSError as exc:
            inflight["error"] = repr(exc)

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    docker("kill", "--signal", "TERM", cid)
    readyz_503 = False
    for _ in range(20):
        try:
            if http(base, "GET", "/readyz", timeout=1)[0] == 503:
                readyz_503 = True
                break
        except OSError:
            break
        time.sleep(0.1)
    worker.join(GRACE + 5)
    exit_code = docker("wait", cid)  # bounded: the drain timeout ends the process
    took = time.monotonic() - t0
    checks.expect(readyz_503, "/readyz -> 503 while draining")
    checks.expect(
        inflight.get("status") == 200, f"in-flight request answered during drain {inflight}"
    )
    checks.expect(exit_code == "0", f"exit code after SIGTERM is 0 (got {exit_code})")
    checks.expect(took < GRACE, f"exited {took:.1f} s after SIGTERM (grace {GRACE} s)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "crunch:0.1.0"))
