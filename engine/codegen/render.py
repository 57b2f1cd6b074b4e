"""The Jinja environment the firmware templates render in.

StrictUndefined turns a missing value into an error instead of an empty string; templates
receive only strings that engine.codegen.cnames produced (plus a few control flags), so
nothing from a spec reaches C unescaped.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2


class TemplatesMissing(RuntimeError):
    """The templates/ folder is neither beside the engine package nor installed."""


def templates_dir() -> Path:
    """templates/ of a checkout or editable install (beside engine/), else the copy a wheel
    installs under <prefix>/share/nmspec/templates."""
    here = Path(__file__).resolve().parents[2] / "templates"
    candidates = [here, Path(sys.prefix) / "share" / "nmspec" / "templates"]
    for candidate in candidates:
        if (candidate / "nmc_config.h.j2").is_file():
            return candidate
    raise TemplatesMissing("firmware templates not found in " + ", ".join(str(c) for c in candidates))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def has_template(name: str) -> bool:
    return (templates_dir() / name).is_file()


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
