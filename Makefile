# nmspec developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NMSPEC := $(VENV)/bin/nmspec
STAMP  := $(VENV)/.installed
EXAMPLE ?= specs/examples/compressor.yaml

EDITOR_STAMP := tools/editor/node_modules/.installed

.PHONY: install editor system-deps demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# yaml-language-server, pinned in tools/editor/package.json, for the editor integration test.
$(EDITOR_STAMP): tools/editor/package.json
	cd tools/editor && npm install --no-audit --no-fund --no-package-lock --loglevel=error
	touch $(EDITOR_STAMP)

editor: $(EDITOR_STAMP)

# Debian packages for the firmware's Cortex-M4 build and its emulator (needs root or sudo).
SYSTEM_PACKAGES := gcc make nodejs npm gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
system-deps:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null \
		&& command -v npm >/dev/null; then \
		echo "system packages present"; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

demo: install
	$(NMSPEC) validate specs/
	$(NMSPEC) render $(EXAMPLE)

test: install editor
	$(PY) -m pytest

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check engine tests bench

clean:
	rm -rf $(VENV) build out .pytest_cache .hypothesis tools/editor/node_modules
