"""The one place where values become C: literals, identifiers and comments.

Templates never see a raw spec value. Every string that comes from a spec reaches C
through `c_string` (a quoted, fully escaped literal), `c_ident` (a mangled identifier),
or `c_comment` (text that cannot close the comment it sits in); every number through
`c_int` / `c_array`, which refuse what the target type cannot hold.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

C_KEYWORDS = frozenset((
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Bool", "_Complex", "_Imaginary",
))

INT_RANGES = {
    "int8_t": (-(1 << 7), (1 << 7) - 1), "uint8_t": (0, (1 << 8) - 1),
    "int16_t": (-(1 << 15), (1 << 15) - 1), "uint16_t": (0, (1 << 16) - 1),
    "int32_t": (-(1 << 31), (1 << 31) - 1), "uint32_t": (0, (1 << 32) - 1),
    "int64_t": (-(1 << 63), (1 << 63) - 1), "uint64_t": (0, (1 << 64) - 1),
}


class CValueError(ValueError):
    """A value that cannot be expressed in the C type asked for."""


def c_string(text: str) -> str:
    """A C string literal holding exactly the UTF-8 bytes of `text`.

    Everything outside printable ASCII, and the characters that end or escape a literal or
    form trigraphs (", \\, ?), is written as a three-digit octal escape, so no byte can end
    the literal early or join with a following character."""
    out = ['"']
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if 0x20 <= byte < 0x7F and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def c_ident(text: str, *, prefix: str = "nm_") -> str:
    """A valid, collision-resistant C identifier derived from `text`.

    Characters outside [A-Za-z0-9_] become '_'; when anything had to change, an 8-hex-digit
    hash of the original is appended so two different names never mangle to one."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", text)
    ident = prefix + cleaned
    if cleaned != text or not text:
        ident += "_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    if ident in C_KEYWORDS or re.match(r"^(_[A-Z_]|__)", ident):
        ident = "nm_" + ident
    return ident


def c_comment(text: str) -> str:
    """Text safe inside a /* ... */ comment on one line."""
    safe = text.encode("ascii", "backslashreplace").decode("ascii")
    safe = safe.replace("*/", "* /").replace("/*", "/ *")
    return re.sub(r"[\x00-\x1f\x7f]", "?", safe)


def c_int(value: int, ctype: str = "int32_t") -> str:
    """An integer literal of `ctype`, refused when out of range."""
    if isinstance(value, bool) or int(value) != value:
        raise CValueError(f"{value!r} is not an integer")
    value = int(value)
    lo, hi = INT_RANGES[ctype]
    if not lo <= value <= hi:
        raise CValueError(f"{value} does not fit {ctype} [{lo}, {hi}]")
    unsigned = ctype.startswith("u")
    if ctype in ("int32_t", "int64_t") and value == lo:
        # -2147483648 is unary minus applied to a literal too big for int
        return f"({value + 1}{'LL' if ctype == 'int64_t' else 'L'} - 1)"
    suffix = {"int64_t": "LL", "uint64_t": "ULL", "uint32_t": "UL", "int32_t": "L"}.get(ctype, "")
    if unsigned and not suffix:
        suffix = "U"
    return f"{value}{suffix}"


def c_array(values: Iterable[int], ctype: str = "int32_t", *, per_line: int = 12, indent: str = "    ") -> str:
    """The body of a C array initializer, wrapped, every element range-checked."""
    items = [c_int(v, ctype) for v in values]
    if not items:
        return "0"  # C99 forbids empty initializers; callers size such arrays 1
    lines = [", ".join(items[i: i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)


def make_comment(text: str) -> str:
    """Text safe on one `#` comment line of a Makefile or shell script: no line break, and no
    trailing backslash that would continue the comment onto the next line."""
    return c_comment(text).replace("\\", "/")


def c_bytes(data: bytes, *, per_line: int = 16, indent: str = "    ") -> str:
    """Bytes as the body of a uint8_t initializer, two hex digits each."""
    if not data:
        return "0"
    items = [f"0x{b:02X}" for b in data]
    lines = [", ".join(items[i: i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)
