"""Tooling around crunch that no pod runs: the local cluster launcher (``make cluster``)
and the process and metrics helpers the tests, the benchmark and the image test share.

Not part of the installed package (``pyproject.toml`` ships ``app`` only).
"""
