"""Start a server process and wait until it is ready: one way for the tests, the
benchmark, the local cluster and the image test.

Standard library only, so that any of them can import it without extra dependencies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class NotReady(RuntimeError):
    """The process exited, or did not answer in time; the message is one line."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def status(url: str, timeout: float = 1.0) -> int:
    """The HTTP status ``url`` answers with; 0 if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if its starter dies without cleaning up."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own (stopping its group ends it and every child
    it forked, nothing else; Ctrl-C reaches only the starter), output appended to ``log``.
    """
    out = log.open("ab") if log is not None else None
    try:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    finally:
        if out is not None:
            out.close()  # the child holds its own copy


def wait_ready(
    url: str,
    *,
    exited: Callable[[], int | None],
    timeout: float,
    name: str = "server",
    cancel: threading.Event | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``url`` until it answers 200; raise :class:`NotReady` when ``exited()`` gives
    an exit status, ``cancel`` is set, or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while status(url) != 200:
        code = exited()
        if code is not None:
            raise NotReady(f"{name} exited with status {code}")
        if cancel is not None and cancel.is_set():
            raise NotReady("interrupted while starting")
        if time.monotonic() > deadline:
            raise NotReady(f"{name} was not ready at {url} within {timeout:g} s")
        time.sleep(interval)


def wait_listening(
    host: str, port: int, *, exited: Callable[[], int | None], timeout: float, name: str
) -> None:
    """Like :func:`wait_ready`, for a server that speaks no HTTP of its own: until
    ``host:port`` accepts a connection."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        code = exited()
        if code is not None:
            raise NotReady(f"{name} exited with status {code}")
        if time.monotonic() > deadline:
            raise NotReady(f"{name} did not listen on {host}:{port} within {timeout:g} s")
        time.sleep(0.02)


def stop_group(proc: subprocess.Popen[bytes], grace: float, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to the process group of a :func:`spawn`-ed process, wait up to
    ``grace`` s, then SIGKILL the group.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # its own session: the group id is its pid
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Children may outlive their parent for a moment; end the whole group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
