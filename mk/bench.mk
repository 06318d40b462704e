# Benchmarks: crunch side by side with the usual ways to serve CPU work in Python.
# See bench/run.py and docs/benchmarks.md.

.PHONY: bench bench-quick bench-payload bench-deps bench-report

BENCH_INSTALLED := $(VENV)/.bench-installed

# The harness's smoke tests (tests/bench) need the bench pins.
TEST_PREREQS += bench-deps

$(BENCH_INSTALLED): $(VENV)/.installed bench/requirements.txt
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

bench-deps: $(BENCH_INSTALLED) ## install the benchmark pins (hdrhistogram, matplotlib)

bench: $(BENCH_INSTALLED) example-deps ## S1-S9, 3 repetitions (~17 min): bench/results/full.json, docs/benchmarks.md, docs/img/
	$(PY) -m bench.run --report

bench-quick: $(BENCH_INSTALLED) example-deps ## reduced S1-S9 (< 60 s): bench/results/quick.json, same shape
	$(PY) -m bench.run --quick

bench-payload: $(BENCH_INSTALLED) example-deps ## S8 + S9 alone, 3 repetitions (~2 min): bench/results/payload.json, its block of docs/benchmarks.md
	$(PY) -m bench.run --only S8,S9 --report

bench-report: $(BENCH_INSTALLED) ## redraw docs/benchmarks.md and the plots from bench/results/full.json
	$(PY) -m bench.report
