"""Peer "cluster": the blocking app under ``uvicorn --workers N`` (the seed's ``cluster``).

N server processes share the port; each still blocks while it computes, and the
kernel, not the load, decides which process gets the next connection.
"""

from __future__ import annotations

from bench.peers.blocking import app

__all__ = ["app"]
