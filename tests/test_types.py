"""engine/ passes mypy --strict with the configuration in pyproject.toml, no module of it is
exempt, and the checker does catch a wrong type in a strict module."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]


def _mypy(*args: str) -> tuple[str, int]:
    cwd = os.getcwd()
    os.chdir(ROOT)  # mypy reads pyproject.toml from the working folder
    try:
        out, err, status = api.run(["--cache-dir", str(ROOT / ".mypy_cache"), *args])
    finally:
        os.chdir(cwd)
    return out + err, status


def test_engine_passes_mypy_strict():
    out, status = _mypy()
    assert status == 0, out
    assert out.startswith("Success: no issues found in ")


def test_no_module_of_engine_is_exempt():
    """No override switches the checker's errors, or one of --strict's checks, off."""
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    strict_checks = ("disallow_untyped_defs", "disallow_incomplete_defs", "check_untyped_defs", "disallow_any_generics",
                     "disallow_untyped_calls", "disallow_untyped_decorators", "disallow_subclassing_any",
                     "warn_return_any", "strict_equality", "warn_unreachable")
    lenient = [o["module"] for o in overrides
               if o.get("ignore_errors") or any(o.get(check) is False for check in strict_checks)]
    assert lenient == []


def test_a_wrong_type_at_a_seam_is_caught(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from engine.spec.model import SiteSpec\n\n\n"
                     "def site(spec: SiteSpec) -> int:\n    return spec.metadata.site\n")
    out, status = _mypy("--strict", str(probe))
    assert status == 1
    assert 'Incompatible return value type (got "str", expected "int")' in out
