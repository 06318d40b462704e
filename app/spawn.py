"""Running allowlisted external programs (the seed's ``spawn('ls')``), safely.

No shell ever: the program is exec'd by absolute path with an argument list. Names
are resolved once at start, so a missing program is a configuration error.
Arguments are checked against a conservative character set, the program runs with
a minimal environment, a time limit and an output cap, and its output streams to
the client as it arrives (NDJSON: output chunks, then a final status line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from app.config import ConfigError, Settings
from app.errors import InvalidParams, NotFound, Overloaded

MAX_ARGS = 32
MAX_ARG_LENGTH = 256
# Letters, digits and a few punctuation marks paths and flags need; nothing a shell
# (or a program parsing its own arguments) would treat as an operator.
ARG_CHARACTERS = "A-Za-z0-9_./:=,+@%-"
SAFE_ARG = re.compile(f"[{ARG_CHARACTERS}]*")
# The same rule as a JSON Schema pattern (ECMA-262: $ is the end of the string).
ARG_PATTERN = f"^[{ARG_CHARACTERS}]*$"
CHUNK = 16 * 1024


def validate_args(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise InvalidParams("args must be a list of strings")
    if len(raw) > MAX_ARGS:
        raise InvalidParams(f"at most {MAX_ARGS} args")
    args: list[str] = []
    for index, arg in enumerate(raw):
        if not isinstance(arg, str):
            raise InvalidParams(f"args[{index}] must be a string")
        if len(arg) > MAX_ARG_LENGTH:
            raise InvalidParams(f"args[{index}] is longer than {MAX_ARG_LENGTH} characters")
        if not SAFE_ARG.fullmatch(arg):
            raise InvalidParams(f"args[{index}] contains a character outside [A-Za-z0-9_./:=,+@%-]")
        args.append(arg)
    return args


class Spawner:
    def __init__(
        self,
        programs: Mapping[str, str],
        timeout: float,
        output_limit: int,
        concurrency: int,
    ) -> None:
        self.programs = dict(programs)
        self.timeout = timeout
        self.output_limit = output_limit
        self.concurrency = concurrency
        self.running = 0
        self._live: set[asyncio.subprocess.Process] = set()
        self._reapers: set[asyncio.Future[int | None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Spawner:
        programs: dict[str, str] = {}
        for name in settings.spawn_allow:
            path = shutil.which(name)
            if path is None:
                raise ConfigError(f"CRUNCH_SPAWN_ALLOW: program {name!r} is not on PATH")
            programs[name] = path
        return cls(
            programs,
            settings.spawn_timeout,
            settings.spawn_output_limit,
            settings.spawn_concurrency,
        )

    async def close(self) -> None:
        """Wait until every program a departed client left behind has been reaped."""
        while self._reapers:
            await asyncio.gather(*self._reapers, return_exceptions=True)

    def kill_all(self) -> None:
        """Kill every running program now (a second signal): each stream ends at once
        with its status line."""
        for proc in list(self._live):
            _kill(proc)

    def resolve(self, name: str) -> str:
        path = self.programs.get(name)
        if path is None:
            shown = name[:40]
            allowed = ", ".join(sorted(self.programs)) or "none"
            raise NotFound(f"program {shown!r} is not allowed (allowed: {allowed})")
        return path

    def reserve(self) -> Lease:
        if self.running >= self.concurrency:
            raise Overloaded(
                f"{self.running} programs are running already", retry_after=self.timeout
            )
        self.running += 1
        return Lease(self)

    async def stream(self, name: str, args: list[str], lease: Lease) -> AsyncGenerator[bytes]:
        """Run the program; yield NDJSON lines, then release the slot ``lease`` holds."""
        started = time.monotonic()
        sent = 0
        truncated = timed_out = False
        proc: asyncio.subprocess.Process | None = None
        try:
            path = self.resolve(name)
            proc = await asyncio.create_subprocess_exec(
                path,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                cwd="/",
                start_new_session=True,
            )
            self._live.add(proc)
            assert proc.stdout is not None
            deadline = started + self.timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                try:
                    chunk = await asyncio.wait_for(proc.stdout.read(CHUNK), remaining)
                except TimeoutError:
                    timed_out = True
                    break
                if not chunk:
                    break
                room = self.output_limit - sent
                if len(chunk) > room:
                    chunk, truncated = chunk[:room], True
                sent += len(chunk)
                if chunk:
                    line = {"output": chunk.decode("utf-8", "replace")}
                    yield (json.dumps(line) + "\n").encode()
                if truncated:
                    break
            if timed_out or truncated:
                _kill(proc)
            code = await _reap(proc)
            status = {
                "exit": code,
                "bytes": sent,
                "truncated": truncated,
                "timed_out": timed_out,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            }
            yield (json.dumps(status) + "\n").encode()
        finally:
            lease.release()
            if proc is not None:
                self._live.discard(proc)
            if proc is not None and proc.returncode is None:
                # The client left early. No await here (a generator closed by the
                # garbage collector may not await): kill now, reap in the background.
                _kill(proc)
                reaper = asyncio.ensure_future(_reap(proc))
                self._reapers.add(reaper)
                reaper.add_done_callback(self._reapers.discard)


async def _reap(proc: asyncio.subprocess.Process) -> int | None:
    """Wait for the exit status. asyncio reports it only once the output pipe is closed,
    so drain what is left first (a killed program's pipe closes at once)."""
    assert proc.stdout is not None
    try:
        await asyncio.wait_for(proc.stdout.read(), 2.0)
        return await asyncio.wait_for(proc.wait(), 2.0)
    except TimeoutError:
        _kill(proc)
        return None


class Lease:
    """One running-program slot; releasing twice is harmless, so every exit path may."""

    __slots__ = ("_spawner",)

    def __init__(self, spawner: Spawner) -> None:
        self._spawner: Spawner | None = spawner

    def release(self) -> None:
        if self._spawner is not None:
            self._spawner.running -= 1
            self._spawner = None


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
