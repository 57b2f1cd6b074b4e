# nmspec developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NMSPEC := $(VENV)/bin/nmspec
STAMP  := $(VENV)/.installed
EXAMPLE ?= specs/examples/compressor.yaml

EDITOR_STAMP := tools/editor/node_modules/.installed

.PHONY: install editor system-deps demo test typecheck bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Monocypher's C sources (Ed25519 for the firmware), from the monocypher-py sdist on PyPI,
# checked against its SHA-256; never committed (.deps/ is ignored).
MONOCYPHER := .deps/monocypher/monocypher.c
$(MONOCYPHER): engine/codegen/monocypher.py | $(STAMP)
	$(PY) -m engine.codegen.monocypher .deps/monocypher

install: $(STAMP) $(MONOCYPHER)

# yaml-language-server, pinned in tools/editor/package.json, for the editor integration test.
$(EDITOR_STAMP): tools/editor/package.json
	cd tools/editor && npm install --no-audit --no-fund --no-package-lock --loglevel=error
	touch $(EDITOR_STAMP)

editor: $(EDITOR_STAMP)

# Debian packages for the firmware's Cortex-M4 build, its emulator, the editor test, the MQTT broker and the PostgreSQL server of the
# telemetry tests and the headless browser of the fleet page's test (needs root or sudo). Only what is missing is asked
# for: a machine whose Node.js already bundles npm (NodeSource builds) conflicts with Debian's npm.
system-deps:
	@need=""; \
	command -v gcc >/dev/null || need="$$need gcc"; \
	command -v g++ >/dev/null || need="$$need g++"; \
	command -v arm-none-eabi-gcc >/dev/null || need="$$need gcc-arm-none-eabi libnewlib-arm-none-eabi"; \
	command -v qemu-system-arm >/dev/null || need="$$need qemu-system-arm"; \
	command -v node >/dev/null || need="$$need nodejs"; \
	command -v npm >/dev/null || need="$$need npm"; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need="$$need mosquitto"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	if [ -z "$$need" ]; then echo "system packages present"; else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $$need; \
	fi

# The reference deployment end to end: validation, fit and power, mapping, a signed and
# verified bundle with its Cortex-M4 size, the accuracy on held-out traces, the firmware
# compiled for the host against the kernel, and the report. The signing key is a throwaway
# one made for the demo under build/ (never commit a key).
DEMO_OUT      := build/demo
DEMO_SITE     := demo-plant/compressor-1
DEMO_KEY      := build/demo-signing-key
DEMO_HELD_OUT := specs/examples/traces/compressor-heldout.npz

demo: system-deps install
	@echo "== validation"; $(NMSPEC) validate specs/
	@echo; echo "== fit, power and battery life: $(EXAMPLE)"; $(NMSPEC) fit $(EXAMPLE)
	@echo; echo "== mapping"; $(NMSPEC) map $(EXAMPLE)
	@echo; echo "== build"; [ -f $(DEMO_KEY) ] || $(NMSPEC) keygen $(DEMO_KEY)
	@$(NMSPEC) build $(EXAMPLE) --out $(DEMO_OUT) --sign-key $(DEMO_KEY) --firmware-size
	@echo; echo "== bundle $(DEMO_OUT)/$(DEMO_SITE)/"; cd $(DEMO_OUT)/$(DEMO_SITE) && find . -type f -printf '  %-26P %8s bytes\n' | sort
	@echo; echo "== verification"; $(NMSPEC) verify $(DEMO_OUT)/$(DEMO_SITE) --verify-key $(DEMO_KEY).pub
	@echo; echo "== held-out accuracy, firmware, report"; $(PY) tools/deployment_report.py $(DEMO_OUT)/$(DEMO_SITE) --spec $(EXAMPLE) --held-out $(DEMO_HELD_OUT) --host-firmware

# the tests include mypy --strict over engine/ (tests/test_types.py) and the import contracts
# between the stages (tests/test_architecture.py)
test: system-deps install editor
	$(PY) -m pytest

# mypy --strict over every module of engine/ and the import
# contracts between the stages (docs/architecture.md)
typecheck: install
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

bench: install
	$(PY) -m bench

lint: typecheck
	$(VENV)/bin/ruff check engine tests bench tools

clean:
	rm -rf $(VENV) build out .pytest_cache .hypothesis .mypy_cache tools/editor/node_modules
