# nmspec developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NMSPEC := $(VENV)/bin/nmspec
STAMP  := $(VENV)/.installed
EXAMPLE ?= specs/examples/compressor.yaml

.PHONY: install system-deps demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages for the firmware's Cortex-M4 build and its emulator (needs root or sudo).
SYSTEM_PACKAGES := gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
system-deps:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null; then \
		echo "system packages present"; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

demo: install
	$(NMSPEC) validate specs/
	$(NMSPEC) render $(EXAMPLE)

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check engine tests bench

clean:
	rm -rf $(VENV) build out .pytest_cache .hypothesis
