# Frontier build entry points. The README names two of them: `make demo` and `make test`.
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libopenmpi-dev openmpi-bin pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build demo test bench lint

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

test: deps
	$(SWIFT) test -c release

bench: build
	.build/release/frontier bench

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
