# prometheus-k8s: build, pack, demo and test the charm. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

MUSL      := x86_64-unknown-linux-musl
CHARM     := prometheus-k8s.charm
# The same binary as a sidecar charm (Juju >= 3.1, Pebble): sidecar/metadata.yaml.
SIDECAR   := prometheus-k8s-sidecar.charm
IMAGE     ?= ubuntu/prometheus:latest
CARGO     ?= cargo
# rustup installs the toolchain here; a fresh shell may not have it on PATH yet.
export PATH := $(HOME)/.cargo/bin:$(PATH)
# Where cargo puts its output (honours CARGO_TARGET_DIR, as cargo itself does).
TARGET    := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# The Debian packages the demo and the tests use for real (promtool, prometheus,
# alertmanager), and the tools that pack and inspect the .charm archive.
APT_PKGS  := prometheus prometheus-alertmanager zip unzip file gcc musl-tools curl jq bsdextrautils time ca-certificates
SUDO      := $(if $(filter 0,$(shell id -u)),,sudo)
# The official Python Pebble client, which juju-sim's Pebble conformance test drives.
PY_PKGS   := ops==3.9.0 websocket-client==1.9.2

.PHONY: help toolchain deps build charm demo test lint bench clean

help:
	@echo "make demo   - build, deploy on the local Juju (juju-sim), configure, relate, show the result"
	@echo "make test   - install what is needed, pack the charm, run every test"
	@echo "make charm  - build the static binary and write $(CHARM) and $(SIDECAR)"
	@echo "make lint   - cargo fmt --check and clippy -D warnings"
	@echo "make bench  - wall time, peak memory and hook-tool calls per hook"

# The stable Rust toolchain with rustfmt and clippy, through rustup when cargo is missing.
toolchain:
	@if ! command -v $(CARGO) >/dev/null 2>&1; then \
	  echo "installing the Rust toolchain (rustup)"; \
	  command -v curl >/dev/null 2>&1 || { $(SUDO) apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	      curl ca-certificates gcc libc6-dev >/dev/null; }; \
	  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal; \
	fi
	@if command -v rustup >/dev/null 2>&1; then \
	  for c in rustfmt clippy; do \
	    rustup component list --installed | grep -q "^$$c" || rustup component add $$c; \
	  done; \
	fi

# Installs what a fresh Debian machine lacks; a no-op when everything is there.
deps: toolchain
	@missing=""; \
	for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@if command -v rustup >/dev/null 2>&1; then \
	  rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL); \
	else \
	  echo "no rustup: assuming the $(MUSL) standard library is installed (https://rustup.rs)"; \
	fi
	@if ! python3 -c 'import ops.pebble, websocket' >/dev/null 2>&1; then \
	  echo "installing Python's $(PY_PKGS) (the Pebble conformance test)"; \
	  if ! python3 -m pip --version >/dev/null 2>&1; then \
	    $(SUDO) apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	      python3 python3-pip >/dev/null; \
	  fi; \
	  python3 -m pip install --quiet $(PY_PKGS) 2>/dev/null \
	    || python3 -m pip install --quiet --break-system-packages $(PY_PKGS); \
	fi

build: toolchain
	$(CARGO) build --workspace --locked

# The charm ships one static binary; dispatch and every hook are symlinks to it.
charm: deps
	$(CARGO) build --release --locked --target $(MUSL) -p prometheus-charm
	scripts/pack-charm $(TARGET)/$(MUSL)/release/prometheus-charm $(CHARM)
	scripts/pack-charm $(TARGET)/$(MUSL)/release/prometheus-charm $(SIDECAR) sidecar

demo: charm
	$(CARGO) build --release --locked -p juju-sim
	JUJU_SIM=$(TARGET)/release/juju-sim scripts/demo $(CHARM) $(SIDECAR) $(IMAGE)

test: charm
	$(CARGO) build --locked -p juju-sim
	PROMETHEUS_CHARM=$(CURDIR)/$(CHARM) PROMETHEUS_SIDECAR_CHARM=$(CURDIR)/$(SIDECAR) \
	  $(CARGO) test --workspace --locked
	# The tests of the packed archives themselves only run where the archives are given.
	PROMETHEUS_CHARM=$(CURDIR)/$(CHARM) PROMETHEUS_SIDECAR_CHARM=$(CURDIR)/$(SIDECAR) \
	  $(CARGO) test --locked --test integration -- --ignored the_packed

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: charm
	$(CARGO) build --release --locked -p juju-sim
	JUJU_SIM=$(TARGET)/release/juju-sim BENCH_PLOT=$${BENCH_PLOT:-$(CURDIR)/docs/hook-cost.png} \
	  scripts/bench $(CHARM)

clean:
	rm -rf build $(CHARM) prometheus-charm .juju-sim
	$(CARGO) clean
