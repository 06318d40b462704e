"""S1 and S8, the raw dispatch microbenchmarks: one round trip through a process pool.

S1 sends ``noop``; S8 (``--payload BYTES``) sends that many bytes to a task that
answers them back (``bench.tasks.mirror``; plain bytes both ways for the executor).

Three dispatchers, each called directly (no HTTP), one call at a time, on uvloop:

- ``ppe``: ``loop.run_in_executor(ProcessPoolExecutor(N), noop)``;
- ``anyio``: ``anyio.to_process.run_sync(noop)``;
- ``crunch``: ``await Pool(Settings(workers=N), registry).submit("noop", {})``.

Each runs in a fresh interpreter (``python -m bench.micro DISPATCHER``) so no pool
warms another's caches; the child prints a JSON digest of its HDR histogram.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.loadgen import _record, digest, new_histogram

DISPATCHERS = ("ppe", "anyio", "crunch")


async def _measure(call: Callable[[], Awaitable[Any]], calls: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        await call()
    hist = new_histogram()
    clock = time.perf_counter
    start = clock()
    for _ in range(calls):
        t = clock()
        await call()
        _record(hist, clock() - t)
    elapsed = clock() - start
    return {"calls": calls, "elapsed": elapsed, **digest(hist)}


async def run(
    dispatcher: str, workers: int, calls: int, warmup: int, payload: int = 0
) -> dict[str, Any]:
    from app.tasks.builtin import noop
    from bench.tasks import mirror_bytes

    data = os.urandom(payload)
    task, params = ("mirror", {"body": data}) if payload else ("noop", {})

    def check(answer: Any) -> None:
        if payload and memoryview(answer).nbytes != payload:
            raise RuntimeError(f"{dispatcher} answered {memoryview(answer).nbytes} bytes")

    if dispatcher == "ppe":
        from concurrent.futures import ProcessPoolExecutor

        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(max_workers=workers) as executor:

            async def ppe() -> Any:
                if payload:
                    check(await loop.run_in_executor(executor, mirror_bytes, data))
                    return None
                return await loop.run_in_executor(executor, noop)

            return await _measure(ppe, calls, warmup)
    if dispatcher == "anyio":
        import anyio.to_process

        limiter = anyio.CapacityLimiter(workers)

        async def anyio_call() -> Any:
            if payload:
                check(await anyio.to_process.run_sync(mirror_bytes, data, limiter=limiter))
                return None
            return await anyio.to_process.run_sync(noop, limiter=limiter)

        return await _measure(anyio_call, calls, warmup)
    if dispatcher == "crunch":
        from app.config import Settings
        from app.pool import Pool
        from app.tasks import registry

        pool = Pool(Settings(workers=workers, task_modules=("bench.tasks",)), registry)
        await pool.start()
        try:

            async def crunch() -> Any:
                result = await pool.submit(task, params)
                if payload:
                    check(result.value.data)
                return result

            return await _measure(crunch, calls, warmup)
        finally:
            await pool.close()
    raise ValueError(f"unknown dispatcher {dispatcher!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.add_argument("dispatcher", choices=DISPATCHERS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--payload", type=int, default=0, help="bytes each way (S8); 0: noop")
    args = parser.parse_args(argv)
    import uvloop

    out = uvloop.run(run(args.dispatcher, args.workers, args.calls, args.warmup, args.payload))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
