# The thumbnails example (examples/thumbnails): a user project on crunch, its tests,
# and its image built FROM crunch's. See the README's "Your own work" section.

.PHONY: example-deps example-image example-image-test example-image-test-or-skip

EXAMPLE_IMAGE ?= crunch-thumbnails:$(VERSION)
EXAMPLE_INSTALLED := $(VENV)/.example-installed

# The example's tests (examples/thumbnails/tests) run in test-py: they need Pillow
# and the project installed (mypy checks the example against Pillow too); its image
# test runs with the packaging checks.
TEST_PREREQS += example-deps
LINT_PREREQS += example-deps
EXTRA_TESTS += example-image-test-or-skip

$(EXAMPLE_INSTALLED): $(VENV)/.installed examples/thumbnails/pyproject.toml
	$(BIN)/pip install --quiet --no-build-isolation -e examples/thumbnails
	touch $@

example-deps: $(EXAMPLE_INSTALLED) ## install the thumbnails example (and its Pillow pin) into the venv

example-image: image ## build crunch-thumbnails:<version> FROM crunch:<version> (offline: host wheelhouse)
	CRUNCH_IMAGE=$(IMAGE) IMAGE=$(EXAMPLE_IMAGE) VERSION=$(VERSION) scripts/build-example-image.sh

example-image-test: example-image example-deps ## run the example image as Kubernetes would; thumbnail a real JPEG
	PYTHONPATH=. $(PY) scripts/example_image_test.py $(EXAMPLE_IMAGE)

# As image-test-or-skip: CI starts an engine; elsewhere skipped, saying why, without one.
example-image-test-or-skip:
	@if [ -n "$$CI" ]; then \
	  scripts/docker-up.sh && $(MAKE) --no-print-directory example-image-test; \
	elif docker info >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory example-image-test; \
	else \
	  echo "example-image-test: SKIPPED: no Docker engine answers here (docker info failed);"; \
	  echo "                    start one with scripts/docker-up.sh, or run in CI (CI=true starts it)."; \
	fi
