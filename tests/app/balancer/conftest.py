"""Shared fixtures for the balancer tests."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def haproxy_bin() -> str:
    """The haproxy binary; the test is skipped (with the reason) where it is absent."""
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        pytest.skip("haproxy is not installed (run `make haproxy-install`)")
    return binary
