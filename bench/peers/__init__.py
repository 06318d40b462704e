"""The usual ways to serve CPU work in Python, as small Starlette apps crunch is compared with.

Every peer runs the very same work functions as crunch (``app.tasks.builtin``) behind
the same routes (``/work/{task}``, ``/batch``, ``/healthz``), so only the way the work
is scheduled differs. Start one with uvicorn, e.g.
``uvicorn bench.peers.executor:app --port 8090``; ``BENCH_WORKERS`` sizes the process
pool of the executor peer (default: CPUs available).
"""
