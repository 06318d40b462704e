"""Busy-aware load balancing in front of crunch instances, with HAProxy as the engine.

``app.balancer.haproxy`` renders an HAProxy configuration from a typed description of
the instances (ports, worker counts, services); ``app.balancer.cluster`` starts the
seed's local server cluster (``make cluster``): crunch instances plus HAProxy configured
from the same numbers. Both run as ``python -m``, so this package imports neither.
"""

from __future__ import annotations
