"""Diagnostics are data: every stage reports problems as Diagnostic records.

Stages collect every diagnostic they can find and return or raise them together
(StageError); only the CLI renders them and decides the exit code.

Code ranges (stable; never reuse a retired code):
  NM0xx  reading YAML: syntax, encoding, size, aliases, duplicate keys, YAML 1.1 surprises
  NM1xx  overlays (extends), schema validation
  NM2xx  semantic rules: units, catalog look-ups, cross-field checks
  NM3xx  resolve: model import, discretisation, quantization
  NM4xx  fit and power
  NM5xx  safety policy
  NM6xx  mapping onto cores
  NM7xx  model image (.nmc)
  NM8xx  verification (kernel, references)
  NM9xx  code generation, bundle, internal
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

import attrs

Severity = Literal["error", "warning", "note"]
_SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}


@attrs.frozen
class Origin:
    """Where a value was written: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@attrs.frozen
class Diagnostic:
    severity: Severity
    code: str
    message: str
    path: str = ""  # JSON pointer into the merged spec, "" for the whole document
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    # The overlay chain that brought the value in: outermost spec first, each "file:line:col".
    chain: tuple[str, ...] = ()

    @classmethod
    def at(
        cls,
        origin: Origin | None,
        code: str,
        message: str,
        *,
        path: str = "",
        hint: str | None = None,
        severity: Severity = "error",
        chain: tuple[str, ...] = (),
    ) -> Diagnostic:
        if origin is None:
            return cls(severity, code, message, path=path, hint=hint, chain=chain)
        return cls(
            severity,
            code,
            message,
            path=path,
            file=origin.file,
            line=origin.line,
            column=origin.column,
            hint=hint,
            chain=chain,
        )

    @property
    def location(self) -> str:
        if self.file is None:
            return "nmspec"
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def sort_key(self) -> tuple[str, int, int, int, str, str]:
        return (
            self.file or "",
            self.line or 0,
            self.column or 0,
            _SEVERITY_ORDER[self.severity],
            self.code,
            self.message,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
            "chain": list(self.chain),
        }


class StageError(Exception):
    """A stage could not produce its output; carries every diagnostic it collected."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(sorted_diagnostics(diagnostics))
        super().__init__("; ".join(d.message for d in self.diagnostics))


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique = {d: None for d in diagnostics}
    return sorted(unique, key=Diagnostic.sort_key)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


def render_text(diagnostics: Iterable[Diagnostic]) -> str:
    lines: list[str] = []
    for d in diagnostics:
        lines.append(f"{d.location}: {d.severity}[{d.code}]: {d.message}")
        for link in d.chain:
            lines.append(f"  included from {link}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2, sort_keys=True) + "\n"


def _github_escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands, one annotation per diagnostic."""
    kind = {"error": "error", "warning": "warning", "note": "notice"}
    out: list[str] = []
    for d in diagnostics:
        props = [f"title={_github_escape(d.code, property_value=True)}"]
        if d.file is not None:
            props.insert(0, f"file={_github_escape(d.file, property_value=True)}")
            if d.line is not None:
                props.insert(1, f"line={d.line}")
                props.insert(2, f"col={d.column or 1}")
        message = d.message + (f" (hint: {d.hint})" if d.hint else "")
        out.append(f"::{kind[d.severity]} {','.join(props)}::{_github_escape(message)}")
    return "\n".join(out) + ("\n" if out else "")


RENDERERS = {"text": render_text, "json": render_json, "github": render_github}
