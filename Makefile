# allot: build, demo, tests and benchmarks. `make help` lists the targets: `make demo`
# runs the C example on the bundled flags; `make test` is the fast, complete test of the
# library and its bindings; `make ci` (what .ci/run calls) adds the differential suite
# against Amplitude's JavaScript engine and the install, platform, fuzzing, sanitizer and
# soak checks.

CARGO ?= cargo
CC ?= cc
RELEASE_DIR := target/release
LIB_DIR := $(abspath $(RELEASE_DIR))
C_OUT := target/c
C_FLAGS := -std=c99 -Wall -Wextra -Werror -Iinclude
C_LINK := -L$(LIB_DIR) -lallot -Wl,-rpath,$(LIB_DIR)

.PHONY: all help build header check-header demo test ci test-rust test-c lint bench clean \
	install uninstall test-install dist wheels test-dist test-differential fuzz fuzz-smoke \
	test-sanitize soak soak-smoke

all: build pkg-config

## This list: every documented target.
help:
	@awk '/^## /{doc=substr($$0,4); next} /^[a-z][a-z0-9-]*:/{if(doc!=""){split($$1,t,":"); printf "  %-18s %s\n", t[1], doc}; doc=""; next} {doc=""}' $(MAKEFILE_LIST)

## Release library (target/release/liballot.{so,a}) and the header check.
build:
	$(CARGO) build --release --lib
	@$(MAKE) --no-print-directory check-header

# cbindgen writes the header into the OUT_DIR of the library's build script; cargo names
# that directory (builds with other features have their own).
GENERATED_HEADER = $(shell $(CARGO) build --release --lib --message-format=json 2>/dev/null \
  | grep '"build-script-executed"' | grep -o '"out_dir":"[^"]*/allot-[^"]*"' \
  | sed 's/"out_dir":"\(.*\)"/\1/')/allot.h

## Copy the freshly generated header to include/allot.h (commit the result).
header:
	$(CARGO) build --release --lib
	cp "$(GENERATED_HEADER)" include/allot.h

check-header:
	@cmp -s "$(GENERATED_HEADER)" include/allot.h || { \
	  echo "include/allot.h differs from the header cbindgen generates: run 'make header'"; exit 1; }

## Evaluate the bundled example flags for a few users through the C ABI.
demo: build
	@mkdir -p $(C_OUT)
	$(CC) $(C_FLAGS) -o $(C_OUT)/demo examples/c/demo.c $(C_LINK)
	$(C_OUT)/demo examples/flags/flags.json

## Every test of the library and the bindings (lint, Rust, C, Python, Go).
test: lint test-rust test-c test-python test-go
	@echo "make test: every suite passed"

# .ci/run times `make test` on its own, then sets CI_TEST_DONE so that `make ci` does not
# run it a second time.
CI_TEST := $(if $(CI_TEST_DONE),,test)

## What CI runs: make test, the differential suite, install, platforms, fuzz, sanitizers, soak.
ci: $(CI_TEST) test-differential test-install test-dist fuzz-smoke test-sanitize soak-smoke
	@echo "make ci: every check passed"

## Rust unit, contract, conformance and network tests.
test-rust:
	$(CARGO) build --release --examples
	$(CARGO) test --release --lib --tests

# Amplitude's JavaScript engine as oracle: npm installs the pinned packages of
# tests/differential/package-lock.json into target/node-oracle, the oracle writes its
# cases and answers to target/differential, and tests/differential.rs compares allot's
# answers through the C ABI (docs/amplitude.md lists the documented differences).
NODE_ORACLE := target/node-oracle

## Differential suite against Amplitude's JavaScript engine (installs it from npm).
test-differential:
	@mkdir -p $(NODE_ORACLE)
	cp tests/differential/package.json tests/differential/package-lock.json $(NODE_ORACLE)/
	cd $(NODE_ORACLE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	node tests/differential/oracle.mjs $(NODE_ORACLE) ../shared target/differential
	$(CARGO) test --release --test differential -- --nocapture

## The C ABI smoke test and the C example.
test-c: build
	@mkdir -p $(C_OUT)
	$(CC) $(C_FLAGS) -o $(C_OUT)/abi_smoke tests/c/abi_smoke.c $(C_LINK)
	$(C_OUT)/abi_smoke
	$(CC) $(C_FLAGS) -o $(C_OUT)/demo examples/c/demo.c $(C_LINK)
	$(C_OUT)/demo examples/flags/flags.json > $(C_OUT)/demo.out
	@grep -q '"pricing-page-experiment"' $(C_OUT)/demo.out || { echo "demo output lacks the experiment"; exit 1; }
	$(CC) $(C_FLAGS) -o $(C_OUT)/fast_lane examples/c/fast_lane.c $(C_LINK)
	$(C_OUT)/fast_lane examples/flags/flags.json > $(C_OUT)/fast_lane.out
	@grep -q '"flag_key":"pricing-page-experiment"' $(C_OUT)/fast_lane.out || { echo "fast-lane output lacks the experiment"; exit 1; }
	@echo "C example and ABI smoke test passed"

## cargo fmt and clippy (warnings are errors).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --release --lib --features fuzzing -- -D warnings

## Criterion benchmarks (figures quoted in the README).
bench:
	$(CARGO) bench --bench evaluate --bench eppo --bench eppo_bandit --bench cohorts --bench fast_lane

## Remove build outputs.
clean:
	$(CARGO) clean
	rm -rf $(C_OUT) dist

# Python package (bindings/python): `make wheel` builds a py3-none-<platform> wheel that
# bundles liballot; `make test-python` lints, installs that wheel into a fresh venv and
# runs the tests from there; `make bench-python` compares with the vendors' PyPI SDKs.
PYTHON ?= python3
PY_DIR := bindings/python
PY_OUT := target/python
PY_DIST := $(PY_OUT)/dist
PY_TOOLS := .venv
PY_TEST_VENV := $(PY_OUT)/test-venv
PY_BENCH_VENV := $(PY_OUT)/bench-venv
PIP_QUIET := -q --disable-pip-version-check
PY_TOOLS_READY := $(PY_TOOLS)/.tools-ready
PY_BUILD_WHEEL := $(abspath $(PY_TOOLS))/bin/python -m pip wheel $(PIP_QUIET) --no-deps --no-build-isolation

.PHONY: wheel test-python lint-python bench-python

## The Python wheel for this machine (target/python/dist).
wheel: build $(PY_TOOLS_READY)
	@rm -f $(PY_DIST)/allot-*.whl
	$(PY_BUILD_WHEEL) -w $(PY_DIST) $(PY_DIR)

# The tools venv: pytest, ruff, and hatchling (the wheel's build backend, used without
# build isolation so that building a wheel needs no download).
$(PY_TOOLS_READY):
	$(PYTHON) -m venv $(PY_TOOLS)
	$(PY_TOOLS)/bin/python -m pip install $(PIP_QUIET) pytest ruff hatchling
	touch $@

## ruff check and format.
lint-python: $(PY_TOOLS_READY)
	$(PY_TOOLS)/bin/ruff check $(PY_DIR)
	$(PY_TOOLS)/bin/ruff format --check $(PY_DIR)

## Python tests from the installed wheel in a fresh venv (with the vendors' SDKs of
## tests/requirements.txt, the oracles of the differential tests).
test-python: wheel lint-python
	rm -rf $(PY_TEST_VENV)
	$(PYTHON) -m venv $(PY_TEST_VENV)
	$(PY_TEST_VENV)/bin/python -m pip install $(PIP_QUIET) -r $(PY_DIR)/tests/requirements.txt
	$(PY_TEST_VENV)/bin/python -m pip install $(PIP_QUIET) --no-index $(PY_DIST)/allot-*.whl
	cd $(PY_DIR)/tests && env -u ALLOT_LIBRARY_PATH ALLOT_TEST_INSTALLED=1 \
	  $(abspath $(PY_TEST_VENV))/bin/python -m pytest -q -p no:cacheprovider -rs .
	@echo "Python tests passed (installed wheel, fresh venv)"

## Python benchmarks, side by side with the vendors' SDKs.
bench-python: wheel
	test -x $(PY_BENCH_VENV)/bin/python || $(PYTHON) -m venv $(PY_BENCH_VENV)
	$(PY_BENCH_VENV)/bin/python -m pip install $(PIP_QUIET) -r $(PY_DIR)/bench/requirements.txt
	$(PY_BENCH_VENV)/bin/python -m pip install $(PIP_QUIET) --no-index --force-reinstall $(PY_DIST)/allot-*.whl
	cd $(PY_DIR)/bench && env -u ALLOT_LIBRARY_PATH $(abspath $(PY_BENCH_VENV))/bin/python bench.py

# Go bindings (bindings/go). `make` writes target/allot.pc and target/allot-static.pc,
# pkg-config files for the build output; the Go targets point PKG_CONFIG_PATH at them.
GO ?= go
GO_DIR := bindings/go
PC_DIR := $(abspath target)
ALLOT_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# What liballot.a needs from the system (`cargo rustc -- --print native-static-libs`).
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
GO_ENV := PKG_CONFIG_PATH=$(PC_DIR)$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))

.PHONY: pkg-config test-go bench-go

## pkg-config files for the build tree (target/allot.pc, allot-static.pc).
pkg-config:
	@mkdir -p $(PC_DIR)
	@printf 'includedir=%s\nlibdir=%s\n\nName: allot\nDescription: allot feature-flag engine (build tree)\nVersion: %s\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lallot -Wl,-rpath,$${libdir}\n' \
	  "$(abspath include)" "$(LIB_DIR)" "$(ALLOT_VERSION)" > $(PC_DIR)/allot.pc
	@printf 'includedir=%s\nlibdir=%s\n\nName: allot-static\nDescription: allot feature-flag engine, static (build tree)\nVersion: %s\nCflags: -I$${includedir}\nLibs: $${libdir}/liballot.a $(STATIC_LIBS)\n' \
	  "$(abspath include)" "$(LIB_DIR)" "$(ALLOT_VERSION)" > $(PC_DIR)/allot-static.pc

# go vet, the race-detector run of every Go test, the RSS leak test (without the race
# detector, which has its own memory growth) and a statically linked build.
## Go vet, race-detector tests, leak test and static link.
test-go: build pkg-config
	cd $(GO_DIR) && $(GO_ENV) $(GO) vet ./...
	cd $(GO_DIR)/bench && $(GO_ENV) $(GO) vet .
	cd $(GO_DIR) && $(GO_ENV) $(GO) test -race -count=1 ./...
	cd $(GO_DIR) && $(GO_ENV) $(GO) test -count=1 -run '^TestLeak' .
	cd $(GO_DIR) && $(GO_ENV) $(GO) test -tags allot_static -count=1 -run '^TestStaticLink' .

# Go benchmarks, then allot against Amplitude's and Eppo's Go SDKs on the same flags:
# the vendor SDKs are fetched into a throw-away module file (the committed bench/go.mod
# stays dependency-free), and the comparison prints the ratios.
VENDOR_SDKS := github.com/amplitude/experiment-go-server@v1.8.0 github.com/Eppo-exp/golang-sdk/v6@v6.3.0
BENCH_MOD := $(PC_DIR)/go-bench/go.mod

## Go benchmarks.
bench-go: build pkg-config
	cd $(GO_DIR) && $(GO_ENV) $(GO) test -run '^$$' -bench . -benchmem .
	@mkdir -p $(dir $(BENCH_MOD)) && cp $(GO_DIR)/bench/go.mod $(BENCH_MOD) && rm -f $(PC_DIR)/go-bench/go.sum
	@cd $(GO_DIR)/bench && if $(GO_ENV) $(GO) get -modfile=$(BENCH_MOD) $(VENDOR_SDKS) > $(PC_DIR)/go-bench/get.log 2>&1; then \
	  $(GO_ENV) $(GO) run -modfile=$(BENCH_MOD) -tags vendors . ; \
	else \
	  echo "bench-go: the Go module proxy did not serve $(VENDOR_SDKS) (see target/go-bench/get.log); allot alone:"; \
	  $(GO_ENV) $(GO) run . ; \
	fi

# Tools that take long to build live in a cache that later runs and checkouts reuse.
TOOLS := $(HOME)/.cache/allot-tools
CARGO_C_VERSION := 0.10.24+cargo-0.98.0
CARGO_C := $(TOOLS)/cargo-c/bin/cargo-cinstall
TOOLS_VENV := $(TOOLS)/venv
CARGO_ZIGBUILD := $(TOOLS_VENV)/bin/cargo-zigbuild
HOST := $(shell rustc -vV | sed -n 's/^host: //p')

# cargo-c must match the toolchain (this version builds with rustc 1.95); the first
# install compiles for about 15 minutes.
$(CARGO_C):
	@scripts/ensure-apt.sh pkg-config=pkg-config /usr/include/openssl/ssl.h=libssl-dev
	nice $(CARGO) install cargo-c --version $(CARGO_C_VERSION) --locked --root $(TOOLS)/cargo-c

# cargo-zigbuild and zig (ziglang) from PyPI: cross-linking for every dist target.
$(CARGO_ZIGBUILD):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q --disable-pip-version-check cargo-zigbuild==0.24.0 ziglang==0.17.1

# System library: `make install PREFIX=/usr/local` (DESTDIR for staging, LIBDIR and
# INCLUDEDIR to override) installs liballot.so.0 (soname; liballot.so.0.1.0 behind it,
# liballot.so for linking), liballot.a, <includedir>/allot/allot.h, allot.pc and
# allot-static.pc (static linking without `pkg-config --static`, e.g. for cgo). On Linux
# the installed liballot.a keeps only allot_* global (scripts/hide-symbols.sh).
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
INSTALLED_LIB := $(DESTDIR)$(LIBDIR)

## Install the system library (PREFIX, DESTDIR, LIBDIR, INCLUDEDIR).
install: $(CARGO_C)
	PATH="$(dir $(CARGO_C)):$$PATH" $(CARGO) cinstall --release --prefix="$(PREFIX)" \
	  --libdir="$(LIBDIR)" --includedir="$(INCLUDEDIR)" $(if $(DESTDIR),--destdir="$(DESTDIR)")
	$(if $(findstring -linux-,$(HOST)),scripts/hide-symbols.sh $(HOST) "$(INSTALLED_LIB)/liballot.a" "$(INSTALLED_LIB)/liballot.a")
	scripts/static-pc.sh "$(INSTALLED_LIB)/pkgconfig"
	@if [ -z "$(DESTDIR)" ] && [ -w /etc/ld.so.cache ]; then ldconfig; fi

## Remove what make install installed.
uninstall:
	rm -f "$(INSTALLED_LIB)"/liballot.so* "$(INSTALLED_LIB)"/liballot*.dylib \
	  "$(INSTALLED_LIB)/liballot.a" "$(INSTALLED_LIB)"/pkgconfig/allot*.pc \
	  "$(DESTDIR)$(INCLUDEDIR)/allot/allot.h"
	rmdir "$(DESTDIR)$(INCLUDEDIR)/allot" 2>/dev/null || true

# Installs into a temporary prefix (cargo-c's build directory is cached) and builds the
# C and C++ examples against it with pkg-config, shared and static.
## make install into a temporary prefix, C/C++/Go builds against it.
test-install: $(CARGO_C)
	@scripts/ensure-apt.sh pkg-config=pkg-config readelf=binutils c++=g++
	CARGO_TARGET_DIR=$(TOOLS)/target-install MAKE="$(MAKE)" scripts/test-install.sh
	@echo "make install, the C and C++ examples against it, make uninstall: passed"

# Every supported platform: release libraries in dist/<target>/ (lib/, include/,
# lib/pkgconfig/allot.pc), cross-linked with zig; `make test-dist` checks them.
DIST_TARGETS ?= x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu \
	x86_64-unknown-linux-musl aarch64-unknown-linux-musl \
	x86_64-apple-darwin aarch64-apple-darwin
DIST_ENV := PATH="$(TOOLS_VENV)/bin:$$PATH" CARGO_TARGET_DIR=$(TOOLS)/target-dist

## Release libraries for every platform in dist/.
dist: $(CARGO_ZIGBUILD)
	$(if $(filter aarch64-unknown-linux-%,$(DIST_TARGETS)),@scripts/ensure-apt.sh aarch64-linux-gnu-ld=binutils-aarch64-linux-gnu)
	$(DIST_ENV) scripts/dist.sh $(DIST_TARGETS)

# Python wheels per platform (py3-none-manylinux_2_17_*, musllinux_1_2_*, macosx_*) in
# dist/wheels/, each with only its own library from dist/.
## Python wheels for every platform in dist/wheels/.
wheels: dist $(PY_TOOLS_READY)
	$(DIST_ENV) PY_BUILD_WHEEL="$(PY_BUILD_WHEEL)" scripts/wheels.sh $(DIST_TARGETS)

## Checks of every platform's build and wheel.
test-dist: wheels
	@scripts/ensure-apt.sh pkg-config=pkg-config file=file llvm-nm=llvm \
	  qemu-aarch64=qemu-user aarch64-linux-gnu-gcc=gcc-aarch64-linux-gnu musl-gcc=musl-tools \
	  /usr/aarch64-linux-gnu/include/stdio.h=libc6-dev-arm64-cross
	$(DIST_ENV) scripts/check-dist.sh $(DIST_TARGETS)

# Fuzzing (fuzz/, cargo-fuzz on nightly; fuzz/README.md lists the targets and the runs):
# each target runs for FUZZ_SECONDS on a corpus seeded from ../shared/conformance.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := $(TOOLS)/cargo-fuzz/bin/cargo-fuzz
# The instrumented builds live in the tools cache, which later runs and checkouts reuse.
FUZZ_ENV := PATH="$(dir $(CARGO_FUZZ)):$$PATH" CARGO_TARGET_DIR=$(TOOLS)/target-fuzz

# Nightly Rust (cargo-fuzz and -Zsanitizer need it) and cargo-fuzz, built once.
ENSURE_NIGHTLY := rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
$(CARGO_FUZZ):
	$(ENSURE_NIGHTLY)
	nice $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(TOOLS)/cargo-fuzz

## Every fuzz target for FUZZ_SECONDS (default 60) each.
fuzz: $(CARGO_FUZZ)
	$(FUZZ_ENV) scripts/fuzz.sh $(FUZZ_SECONDS)

## Every fuzz target briefly (FUZZ_SMOKE_SECONDS, default 15).
fuzz-smoke: $(CARGO_FUZZ)
	$(FUZZ_ENV) scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

## C stress and swap programs under ASan + LSan, TSan; stress also under valgrind.
test-sanitize: build
	@scripts/ensure-apt.sh valgrind=valgrind
	$(ENSURE_NIGHTLY)
	rustup component add rust-src --toolchain nightly
	CC=$(CC) SANITIZER_TARGET_DIR=$(TOOLS)/target-sanitize scripts/sanitize.sh

# The chaos soak (tests/soak.rs): a hostile flag and analytics server on 127.0.0.1 while
# 8 threads evaluate; SOAK_SECONDS of chaos.
SOAK_SECONDS ?= 120

## Chaos soak against a hostile local server (SOAK_SECONDS, default 120).
soak:
	SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak -- --ignored --nocapture

## The chaos soak for 20 seconds.
soak-smoke:
	SOAK_SECONDS=20 $(CARGO) test --release --test soak -- --ignored --nocapture
