"""Running allowlisted programs: no shell, checked args, time limit, output cap, one slot each."""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import sys
import warnings
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from app.config import ConfigError, Settings
from app.errors import InvalidParams, NotFound, Overloaded
from app.spawn import MAX_ARG_LENGTH, MAX_ARGS, Spawner, validate_args

NO_HANG_S = 10.0


def program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def spawner(*names: str, timeout: float = 5.0, output_limit: int = 1 << 20) -> Spawner:
    return Spawner({n: program(n) for n in names}, timeout, output_limit, concurrency=2)


async def run(s: Spawner, name: str, args: list[str]) -> list[dict[str, Any]]:
    """Stream ``name`` to the end; every NDJSON line, decoded."""

    async def collect() -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        async for chunk in s.stream(name, args, s.reserve()):
            assert chunk.endswith(b"\n")
            lines.append(json.loads(chunk))
        return lines

    return await asyncio.wait_for(collect(), NO_HANG_S)


def open_stream(s: Spawner, name: str, args: list[str]) -> AsyncGenerator[bytes, None]:
    """Start streaming ``name`` in a slot of its own; the caller may close it early."""
    return s.stream(name, args, s.reserve())


def output(lines: list[dict[str, Any]]) -> str:
    return "".join(line["output"] for line in lines[:-1])


async def settle() -> list[str]:
    """Finalize dropped subprocess transports while the loop still runs; their warnings.

    A transport left open is closed by its finalizer; doing that here (not at some
    later garbage collection, maybe after the loop closed) keeps it inside this test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
        await asyncio.sleep(0.05)
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


PRINT_THEN_SLEEP = "import time; print('started', flush=True); time.sleep(5)"


# validate_args


def test_null_args_are_refused() -> None:
    with pytest.raises(InvalidParams, match="list of strings"):
        validate_args(None)


def test_plain_args_pass_unchanged() -> None:
    args = ["-la", "/usr/lib", "--color=never", "a,b", "x+y@z:1%", "_.-"]
    assert validate_args(args) == args


@pytest.mark.parametrize("char", list(";|&$`<>*?~'\"\\(){}[]!#"))
def test_shell_metacharacter_is_rejected(char: str) -> None:
    with pytest.raises(InvalidParams, match=r"args\[0\]"):
        validate_args([f"a{char}b"])


@pytest.mark.parametrize("arg", ["a b", "a\nb", "a\tb", "a\x00b", "é"])
def test_whitespace_control_and_non_ascii_are_rejected(arg: str) -> None:
    with pytest.raises(InvalidParams):
        validate_args([arg])


def test_too_many_args_are_rejected() -> None:
    with pytest.raises(InvalidParams, match=f"at most {MAX_ARGS}"):
        validate_args(["a"] * (MAX_ARGS + 1))


def test_most_args_allowed_pass() -> None:
    assert len(validate_args(["a"] * MAX_ARGS)) == MAX_ARGS


def test_too_long_arg_is_rejected() -> None:
    with pytest.raises(InvalidParams, match="longer than"):
        validate_args(["a" * (MAX_ARG_LENGTH + 1)])


@pytest.mark.parametrize("arg", [1, None, True, ["a"], {"a": 1}])
def test_non_string_arg_is_rejected(arg: object) -> None:
    with pytest.raises(InvalidParams, match="must be a string"):
        validate_args(["ok", arg])


@pytest.mark.parametrize("raw", ["-la", {"args": []}, ("a",)])
def test_args_that_are_not_a_list_are_rejected(raw: object) -> None:
    with pytest.raises(InvalidParams, match="must be a list"):
        validate_args(raw)


# Spawner setup


def test_program_not_on_path_is_a_config_error() -> None:
    settings = Settings(spawn_allow=("ls", "no-such-program-crunch-test"))
    with pytest.raises(ConfigError, match="no-such-program-crunch-test"):
        Spawner.from_settings(settings)


def test_allowlisted_program_resolves_to_an_absolute_path() -> None:
    s = Spawner.from_settings(Settings(spawn_allow=("ls",)))
    assert Path(s.resolve("ls")).is_absolute()


def test_program_outside_the_allowlist_is_not_found() -> None:
    s = Spawner.from_settings(Settings(spawn_allow=("ls",)))
    with pytest.raises(NotFound, match="not allowed"):
        s.resolve("rm")


def test_settings_limits_reach_the_spawner() -> None:
    settings = Settings(spawn_timeout=1.5, spawn_output_limit=99, spawn_concurrency=3)
    s = Spawner.from_settings(settings)
    assert (s.timeout, s.output_limit, s.concurrency) == (1.5, 99, 3)


# Slots


def test_reserve_beyond_concurrency_is_overloaded() -> None:
    s = Spawner({}, timeout=2.5, output_limit=10, concurrency=2)
    s.reserve()
    s.reserve()
    with pytest.raises(Overloaded) as caught:
        s.reserve()
    assert caught.value.headers() == {"Retry-After": "3"}


def test_released_lease_frees_its_slot() -> None:
    s = Spawner({}, timeout=1.0, output_limit=10, concurrency=1)
    s.reserve().release()
    s.reserve()
    assert s.running == 1


def test_releasing_a_lease_twice_frees_one_slot() -> None:
    s = Spawner({}, timeout=1.0, output_limit=10, concurrency=2)
    lease = s.reserve()
    s.reserve()
    lease.release()
    lease.release()
    assert s.running == 1


# Streaming real programs


async def test_ls_lists_the_directory_and_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("x")
    lines = await run(spawner("ls"), "ls", [str(tmp_path)])
    assert "hello.txt" in output(lines)
    status = lines[-1]
    assert status["exit"] == 0
    assert (status["truncated"], status["timed_out"]) == (False, False)


async def test_final_line_counts_the_bytes_sent(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    lines = await run(spawner("ls"), "ls", [str(tmp_path)])
    assert lines[-1]["bytes"] == len(output(lines).encode())


async def test_failing_program_reports_its_exit_code(tmp_path: Path) -> None:
    lines = await run(spawner("ls"), "ls", [str(tmp_path / "missing")])
    assert lines[-1]["exit"] != 0


async def test_slow_program_is_killed_at_the_timeout() -> None:
    lines = await run(spawner("sleep", timeout=0.3), "sleep", ["5"])
    status = lines[-1]
    assert status["timed_out"] is True
    assert status["exit"] != 0


async def test_endless_output_is_cut_at_the_limit() -> None:
    lines = await run(spawner("yes", output_limit=1000), "yes", [])
    await settle()  # see test_truncated_stream_leaves_no_unclosed_pipe
    status = lines[-1]
    assert (status["truncated"], status["bytes"]) == (True, 1000)
    assert len(output(lines)) == 1000


async def test_finished_stream_releases_its_slot(tmp_path: Path) -> None:
    s = spawner("ls")
    await run(s, "ls", [str(tmp_path)])
    assert s.running == 0


async def test_timed_out_stream_releases_its_slot() -> None:
    s = spawner("sleep", timeout=0.2)
    await run(s, "sleep", ["5"])
    assert s.running == 0


async def test_abandoned_stream_releases_its_slot() -> None:
    s = Spawner({"py": sys.executable}, 5.0, 1 << 20, concurrency=1)
    stream = open_stream(s, "py", ["-c", PRINT_THEN_SLEEP])
    first = await asyncio.wait_for(anext(stream), NO_HANG_S)
    assert json.loads(first) == {"output": "started\n"}
    await asyncio.wait_for(stream.aclose(), NO_HANG_S)
    assert s.running == 0
    await asyncio.wait_for(s.close(), NO_HANG_S)


async def test_abandoned_stream_with_unread_output_closes_without_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[asyncio.subprocess.Process] = []
    create = asyncio.create_subprocess_exec

    async def recording(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await create(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recording)
    s = spawner("yes")
    stream = open_stream(s, "yes", [])
    await asyncio.wait_for(anext(stream), NO_HANG_S)
    await asyncio.sleep(0.2)  # a slow client: the pipe reader fills its buffer and pauses
    await asyncio.wait_for(stream.aclose(), 3.0)
    await asyncio.wait_for(s.close(), NO_HANG_S)  # the killed program is reaped
    assert [proc.returncode is not None for proc in started] == [True]
    await settle()


async def test_truncated_stream_leaves_no_unclosed_pipe() -> None:
    s = spawner("yes", output_limit=300_000)

    async def slow_client() -> None:
        async for _ in s.stream("yes", [], s.reserve()):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(slow_client(), NO_HANG_S)
    assert await settle() == []


async def test_program_outside_the_allowlist_releases_its_slot() -> None:
    s = spawner("ls")
    stream = open_stream(s, "rm", [])
    with pytest.raises(NotFound):
        await anext(stream)
    assert s.running == 0
