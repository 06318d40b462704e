"""Smoke test of the crunch image, run the way Kubernetes runs it.

Starts the image with a read-only root filesystem, a tmpfs /tmp, no capabilities,
no privilege escalation and a numeric non-root user, then checks:
  - PID 1 of the container is the Python server itself (exec-form entrypoint);
  - every route answers (/, /tasks, /work, /batch, /hello, /world, /spawn, /healthz,
    /readyz, /openapi.json) and /metrics carries the autoscaling signal;
  - SIGTERM drains: /readyz turns 503, a request in flight still gets its answer,
    and the container exits 0 within the grace period.
Only talks to 127.0.0.1 (the container's port is published there); every wait is
bounded. Usage: python3 scripts/image_test.py crunch:0.1.0
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

DRAIN_TIMEOUT = 10  # CRUNCH_DRAIN_TIMEOUT given to the container
GRACE = DRAIN_TIMEOUT + 5  # what `docker stop -t` / terminationGracePeriodSeconds allows
MAX_IMAGE_MB = int(os.environ.get("IMAGE_MAX_MB", "150"))


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def http(
    base: str, method: str, path: str, body: Any = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    # Only ever http://127.0.0.1:<published port> (built in main()).
    req = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def expect(self, ok: bool, what: str) -> None:
        print(("  ok    " if ok else "  FAIL  ") + what)
        if not ok:
            self.failed.append(what)


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

    cid = docker(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp:rw,size=64m",  # noqa: S108 (the container's /tmp)
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--user", "10001:10001", "--publish", "127.0.0.1::8080",
        "--env", "CRUNCH_WORKERS=2", "--env", f"CRUNCH_DRAIN_TIMEOUT={DRAIN_TIMEOUT}",
        "--env", "CRUNCH_LOG_FORMAT=text",
        image,
    )  # fmt: skip
    try:
        port = docker("port", cid, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready:
            with contextlib.suppress(OSError):
                ready = http(base, "GET", "/readyz", timeout=2)[0] == 200
            if not ready:
                time.sleep(0.3)
        checks.expect(ready, "/readyz 200 within 60 s")
        if not ready:
            print(docker("logs", cid, check=False))
            return 1

        pid = docker("inspect", "-f", "{{.State.Pid}}", cid)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        checks.expect(
            "python" in os.path.basename(argv[0]) and "sh" not in os.path.basename(argv[0]),
            f"PID 1 is the server, not a shell: {' '.join(argv)}",
        )

        status, _, body = http(base, "GET", "/")
        checks.expect(status == 200 and b"<" in body, "GET / serves the HTML index")
        status, _, body = http(base, "GET", "/tasks")
        checks.expect(status == 200 and b"spin" in body, "GET /tasks lists spin")
        status, headers, body = http(base, "GET", "/work/spin?n=300")
        checks.expect(
            status == 200
            and json.loads(body).get("result") == 90000
            and "x-worker" in {k.lower() for k in headers},
            "GET /work/spin?n=300 -> 90000 from a worker",
        )
        status, _, body = http(base, "POST", "/batch", [{"task": "noop", "params": {}}] * 3)
        checks.expect(
            status == 200 and len(json.loads(body)) == 3, "POST /batch answers every item"
        )
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
            status == 200 and "crunch_saturation" in text and "crunch_pool_workers 2.0" in text,
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
    finally:
        if checks.failed:
            print(docker("logs", "--tail", "40", cid, check=False))
        docker("rm", "--force", cid, check=False)

    print(
        f"image-test: {len(checks.failed)} failed"
        if checks.failed
        else "image-test: all checks passed"
    )
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "crunch:0.1.0"))
