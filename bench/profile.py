"""Where the crunch server process spends its time under a benchmark load (py-spy).

    python -m bench.profile noop       # S6: closed-loop /work/noop
    python -m bench.profile overload   # S5: 5 x capacity of ~50 ms spins
    python -m bench.profile healthz    # S3: /healthz probes while the pool is saturated

Starts crunch as the benchmark does, applies the load, samples the *server*
process (not its workers) with ``py-spy record --format raw`` and prints the
functions with the largest inclusive and self share of the samples. The raw
collapsed stacks are kept in ``bench/results/profile-<load>.txt`` (flame graph
tools read them).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import loadgen
from bench.procs import ROOT, serving, tree
from bench.scenarios import calibrate

OUT = ROOT / "bench" / "results"
_FRAME = re.compile(r"(?P<fn>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame(text: str) -> str:
    match = _FRAME.match(text)
    if not match:
        return text
    path = match.group("file").split("site-packages/")[-1]
    path = path.split(str(ROOT) + "/")[-1]
    return f"{match.group('fn')} ({path})"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def summarize(raw: str, top: int = 30) -> str:
    """Inclusive and self shares of the samples in py-spy's raw (collapsed) output."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


async def profile(load: str, seconds: float, workers: int) -> str:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install -r bench/requirements.txt")
    task = calibrate(50.0)
    capacity = workers / task.seconds
    with tempfile.TemporaryDirectory(prefix="crunch-profile-") as tmp:
        raw_path = Path(tmp) / "raw.txt"
        async with serving("crunch", workers, Path(tmp)) as server:
            spin_url = f"{server.url}/work/spin?n={task.n}"
            await loadgen.request(spin_url)
            argv = [spy, "record", "-p", str(server.pid), "-d", str(int(seconds))]
            argv += ["-r", "250", "-f", "raw", "-o", str(raw_path), "--nonblocking"]
            pids = tree(server.pid)
            before = {pid: cpu_seconds(pid) for pid in pids}
            started = time.monotonic()
            recorder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            run_for = seconds + 1.0
            if load == "noop":
                await loadgen.closed_loop(f"{server.url}/work/noop", 16, run_for)
            elif load == "overload":
                await loadgen.open_loop(spin_url, 5 * capacity, run_for, timeout=5)
            else:
                saturate = asyncio.create_task(
                    loadgen.open_loop(spin_url, 1.5 * capacity, run_for, timeout=2)
                )
                await loadgen.open_loop(f"{server.url}/healthz", 100, run_for - 0.5, precise=True)
                await saturate
            wall = time.monotonic() - started
            used = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
            await asyncio.to_thread(recorder.wait)
        raw = raw_path.read_text() if raw_path.exists() else ""
    cpu = [f"CPU over {wall:.1f} s (100 % = one core):"]
    cpu += [
        f"  {'server' if pid == server.pid else 'worker'} {pid}: {100 * t / wall:.0f} %"
        for pid, t in used.items()
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"profile-{load}.txt").write_text(raw)
    return "\n".join(cpu) + "\n" + summarize(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("load", choices=("noop", "overload", "healthz"))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    import uvloop

    print(uvloop.run(profile(args.load, args.seconds, args.workers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
