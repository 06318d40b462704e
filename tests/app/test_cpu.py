"""CPU detection: cgroup v2 quota, then cgroup v1 quota, then CPU affinity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.cpu import available_cpus, cgroup_cpu_limit


@pytest.fixture
def affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this process may run on 8 CPUs."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


def write_v2(root: Path, text: str) -> None:
    (root / "cpu.max").write_text(text)


def write_v1(root: Path, quota: str, period: str) -> None:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota)
    (root / "cpu" / "cpu.cfs_period_us").write_text(period)


def test_v2_quota_is_quota_over_period(tmp_path: Path) -> None:
    write_v2(tmp_path, "150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5


def test_v2_max_means_unlimited(tmp_path: Path) -> None:
    write_v2(tmp_path, "max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_v2_garbage_is_ignored(tmp_path: Path) -> None:
    write_v2(tmp_path, "nonsense\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_v1_quota_is_quota_over_period(tmp_path: Path) -> None:
    write_v1(tmp_path, "200000\n", "100000\n")
    assert cgroup_cpu_limit(tmp_path) == 2.0


def test_v1_negative_quota_means_unlimited(tmp_path: Path) -> None:
    write_v1(tmp_path, "-1\n", "100000\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_v2_wins_over_v1(tmp_path: Path) -> None:
    write_v2(tmp_path, "300000 100000\n")
    write_v1(tmp_path, "100000\n", "100000\n")
    assert cgroup_cpu_limit(tmp_path) == 3.0


def test_no_cgroup_files_means_unlimited(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path) is None


@pytest.mark.usefixtures("affinity")
def test_fractional_quota_rounds_up(tmp_path: Path) -> None:
    write_v2(tmp_path, "150000 100000\n")
    assert available_cpus(tmp_path) == 2


@pytest.mark.usefixtures("affinity")
def test_tiny_quota_still_gives_one_cpu(tmp_path: Path) -> None:
    write_v2(tmp_path, "10000 100000\n")
    assert available_cpus(tmp_path) == 1


@pytest.mark.usefixtures("affinity")
def test_quota_above_affinity_is_capped_by_affinity(tmp_path: Path) -> None:
    write_v1(tmp_path, "1600000\n", "100000\n")
    assert available_cpus(tmp_path) == 8


@pytest.mark.usefixtures("affinity")
def test_unlimited_quota_uses_affinity(tmp_path: Path) -> None:
    write_v2(tmp_path, "max 100000\n")
    assert available_cpus(tmp_path) == 8


def test_missing_affinity_falls_back_to_cpu_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert available_cpus(tmp_path) == 3


def test_unknown_cpu_count_gives_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cpus(tmp_path) == 1
