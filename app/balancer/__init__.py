"""Busy-aware load balancing in front of crunch instances, with HAProxy as the engine.

``app.balancer.haproxy`` renders an HAProxy configuration from a typed description of
the instances (ports, worker counts, services). The balancer pod's init container runs
it (``crunch haproxy-config --kube-service ...``); ``make cluster`` (``tools.cluster``)
starts local instances with HAProxy configured from the same numbers. It runs as
``python -m``, so this package does not import it.
"""

from __future__ import annotations
