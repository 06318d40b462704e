"""How many CPUs this process may use: the container's CPU quota first, then affinity."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_v2_quota(root: Path) -> float | None:
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return int(quota) / int(period)


def _cgroup_v1_quota(root: Path) -> float | None:
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """CPU limit of this container in CPUs, or None when unlimited."""
    quota = _cgroup_v2_quota(root)
    return quota if quota is not None else _cgroup_v1_quota(root)


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs a worker pool should use here (at least one).

    A quota of 1.5 CPUs gives 2 workers: rounding down would leave paid-for CPU idle.
    """
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root)
    if quota is None:
        return max(1, affinity)
    return max(1, min(affinity, math.ceil(quota)))
