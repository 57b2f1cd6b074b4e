"""Read one YAML file into plain data plus a source map, with YAML 1.2 meanings.

PyYAML implements YAML 1.1, where `on`, `no` and `y` are booleans, `010` is octal and
`12:30` is a base-60 integer. Editors implement YAML 1.2, where those are strings or
decimal. A spec must mean what the editor shows, so we compose nodes with PyYAML and
construct scalars ourselves with the YAML 1.2 core schema; every plain scalar whose 1.1
reading differs is an error that says both readings.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import yaml

from engine.diagnostics import Diagnostic, Origin

MAX_FILE_BYTES = 1024 * 1024  # a site spec is a few KiB; anything near this is a mistake
MAX_NODES = 50_000  # bound on constructed values, counting every alias expansion
MAX_DEPTH = 64
# Bound on the text of every scalar as constructed, each alias expansion counted again: a
# few aliases of one long string would otherwise become gigabytes once rendered or hashed.
# A file without aliases stays far below it (its scalars are at most the file's own bytes).
MAX_EXPANDED_CHARS = 4 * MAX_FILE_BYTES


@attrs.frozen
class SourceMap:
    """JSON pointer -> where the value (and, for mapping members, the key) was written."""

    values: dict[str, Origin]
    keys: dict[str, Origin]


@attrs.frozen
class ReadResult:
    data: Any
    source_map: SourceMap
    diagnostics: tuple[Diagnostic, ...]


def pointer_join(base: str, token: str | int) -> str:
    text = str(token).replace("~", "~0").replace("/", "~1")
    return f"{base}/{text}"


def dotted(pointer: str) -> str:
    """'/power/battery/cell' -> 'power.battery.cell'; list indices as [i]."""
    out = ""
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if token.isdigit():
            out += f"[{token}]"
        else:
            out += ("." if out else "") + token
    return out


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

# Plain scalars that YAML 1.1 reads differently from YAML 1.2. The single letters y/n are
# booleans in the 1.1 type repository, but PyYAML, ruamel and most tools read them as
# strings, and `axes: [x, y, z]` must stay natural; so they are not flagged.
_YAML11_BOOL = re.compile(r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")
_YAML11_BOOL_TRUE = {"yes", "on"}
_YAML11_OCTAL = re.compile(r"^[-+]?0[0-7]+$")
_YAML11_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_YAML11_UNDERSCORE_NUMBER = re.compile(r"^[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?$")
_YAML11_BINARY = re.compile(r"^[-+]?0b[01_]+$")


def _origin(file: str, mark: yaml.Mark) -> Origin:
    return Origin(file, mark.line + 1, mark.column + 1)


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[str, Origin] = {}
        self.keys: dict[str, Origin] = {}
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.chars = 0
        self.too_big = False
        self.last_key: yaml.Node | None = None

    def error(self, node: yaml.Node, code: str, message: str, pointer: str, hint: str | None = None) -> None:
        self.diagnostics.append(
            Diagnostic.at(_origin(self.file, node.start_mark), code, message, path=pointer, hint=hint)
        )

    def build(self, node: yaml.Node, pointer: str, stack: tuple[int, ...]) -> Any:
        self.count += 1
        if isinstance(node, yaml.ScalarNode):
            self.chars += len(node.value)
        if self.chars > MAX_EXPANDED_CHARS and not self.too_big:
            self.too_big = True
            self.error(self.last_key or node, "NM005",
                       f"document expands to more than {MAX_EXPANDED_CHARS} characters of text (alias expansion); "
                       "a site spec is far smaller", pointer,
                       hint="remove the repeated aliases (*name) of long values; write the values out or use extends")
        if self.too_big:
            return None
        if self.count > MAX_NODES:
            if not self.too_big:
                self.too_big = True
                self.error(
                    self.last_key or node,
                    "NM005",
                    f"document expands to more than {MAX_NODES} values (alias expansion); "
                    "a site spec is far smaller",
                    pointer,
                    hint="remove the repeated aliases (*name); write the values out or use extends",
                )
            return None
        if id(node) in stack:
            self.error(node, "NM005", "an alias refers to the node that contains it (a recursive structure)", pointer)
            return None
        if len(stack) >= MAX_DEPTH:
            self.error(node, "NM005", f"nesting deeper than {MAX_DEPTH} levels", pointer)
            return None
        self.values.setdefault(pointer, _origin(self.file, node.start_mark))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, pointer)
        inner = stack + (id(node),)
        if isinstance(node, yaml.SequenceNode):
            self.check_tag(node, "tag:yaml.org,2002:seq", pointer)
            return [self.build(item, pointer_join(pointer, i), inner) for i, item in enumerate(node.value)]
        self.check_tag(node, "tag:yaml.org,2002:map", pointer)
        assert isinstance(node, yaml.MappingNode)  # composed YAML has no fourth kind of node
        return self.mapping(node, pointer, inner)

    def check_tag(self, node: yaml.Node, expected: str, pointer: str) -> None:
        if node.tag != expected:
            self.error(node, "NM008", f"{dotted(pointer) or 'document'}: YAML tag '{node.tag}' is not supported", pointer,
                       hint="remove the tag; specs use plain YAML values only")

    def mapping(self, node: yaml.MappingNode, pointer: str, stack: tuple[int, ...]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.error(key_node, "NM008", f"{dotted(pointer) or 'document'}: YAML merge keys (<<) are not supported",
                           pointer, hint="write the merged keys out here, or use extends to inherit from a base spec")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, "NM007", f"{dotted(pointer) or 'document'}: a mapping key must be a plain name", pointer)
                continue
            key = self.scalar(key_node, pointer, as_key=True)
            if not isinstance(key, str):
                key = str(key_node.value)
            member = pointer_join(pointer, key)
            if key in seen:
                first = seen[key].start_mark
                self.error(
                    key_node,
                    "NM003",
                    f"{dotted(member)}: duplicate key '{key}'; it was first set at line {first.line + 1}, column {first.column + 1}",
                    member,
                    hint="remove one of the two; YAML keeps only one of them",
                )
                continue
            seen[key] = key_node
            self.last_key = key_node
            self.keys[member] = _origin(self.file, key_node.start_mark)
            result[key] = self.build(value_node, member, stack)
        return result

    def scalar(self, node: yaml.ScalarNode, pointer: str, as_key: bool = False) -> Any:
        text = node.value
        if node.style is not None:  # quoted or block scalars are always strings
            return text
        if node.tag not in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                            "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp",
                            "tag:yaml.org,2002:value"):
            self.check_tag(node, "tag:yaml.org,2002:str", pointer)
            return text
        surprise = _yaml11_surprise(text)
        if surprise:
            where = dotted(pointer) if not as_key else dotted(pointer_join(pointer, text))
            self.error(
                node,
                "NM004",
                f"{where or 'document'}: '{text}' {surprise}",
                pointer,
                hint=_yaml11_hint(text),
            )
            return text
        if as_key:
            return text
        return _resolve_core(text)


def _yaml11_surprise(text: str) -> str | None:
    if _YAML11_BOOL.match(text):
        meaning = "true" if text.lower() in _YAML11_BOOL_TRUE else "false"
        return f"is the string \"{text}\" in YAML 1.2 but the boolean {meaning} in YAML 1.1"
    if _YAML11_OCTAL.match(text):
        return f"is the decimal number {int(text, 10)} in YAML 1.2 but the octal number {int(text, 8)} in YAML 1.1"
    if _YAML11_SEXAGESIMAL.match(text):
        return "is a string in YAML 1.2 but a base-60 number in YAML 1.1"
    if _YAML11_UNDERSCORE_NUMBER.match(text) or _YAML11_BINARY.match(text):
        return "is a string in YAML 1.2 but a number in YAML 1.1"
    return None


def _yaml11_hint(text: str) -> str:
    if _YAML11_BOOL.match(text):
        return f"write true or false for a boolean, or quote it ('{text}') for a string"
    if _YAML11_OCTAL.match(text):
        return f"write {int(text, 10)} for the decimal number, or quote it ('{text}') for a string"
    return f"quote it ('{text}') if you mean a string"


def _resolve_core(text: str) -> Any:
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT10.match(text):
        return int(text, 10)
    if _INT8.match(text):
        return int(text, 0)
    if _INT16.match(text):
        return int(text, 0)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


def _position(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return line, column


def read_bytes(data: bytes, file: str) -> ReadResult:
    """Turn the bytes of one file into data, a source map and diagnostics (never raises)."""
    empty = SourceMap({}, {})

    def fail(code: str, message: str, line: int | None = None, column: int | None = None, hint: str | None = None) -> ReadResult:
        origin = Origin(file, line, column if column is not None else 1) if line is not None else Origin(file, 1, 1)
        return ReadResult(None, empty, (Diagnostic.at(origin, code, message, hint=hint),))

    if len(data) > MAX_FILE_BYTES:
        return fail("NM002", f"file is {len(data)} bytes; a spec may be at most {MAX_FILE_BYTES} bytes (1 MiB)",
                    hint="a site spec is a few kilobytes; is this the right file?")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        return fail("NM001", f"file is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
                    line, column, hint="save the file as UTF-8")
    if "\x00" in text:
        line, column = _position(data, data.index(b"\x00"))
        return fail("NM001", "file contains a NUL character; a spec is text", line, column)
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return fail("NM006", "file is empty; a spec is a mapping that starts with apiVersion and kind",
                    hint="start with 'apiVersion: nmspec/v1' and 'kind: SiteDeployment'")
    try:
        nodes = _compose_all(text)
    except _TooDeep as exc:
        return fail("NM005", f"nesting deeper than {MAX_DEPTH} levels", exc.line, exc.column,
                    hint="a site spec nests a few levels; is this the right file?")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "syntax error"
        if exc.context:
            opened = exc.context_mark
            where = f" at line {opened.line + 1}, column {opened.column + 1}" if opened and opened is not mark else ""
            problem = f"{problem} ({exc.context}{where})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if "'\\t'" in problem:
            return fail("NM009", "tab character in indentation; YAML indents with spaces only", line, column,
                        hint="replace the tabs at the start of this line with spaces")
        return fail("NM010", f"YAML syntax error: {problem}", line, column)
    except yaml.YAMLError as exc:  # reader errors without a position (control characters)
        return fail("NM010", f"YAML syntax error: {exc}")
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return fail("NM006", "file is empty; a spec is a mapping that starts with apiVersion and kind",
                    hint="start with 'apiVersion: nmspec/v1' and 'kind: SiteDeployment'")
    if len(nodes) > 1:
        second = nodes[1].start_mark
        return fail("NM011", "file holds more than one YAML document; a spec file holds exactly one",
                    second.line + 1, second.column + 1, hint="put each site in its own file")
    root = nodes[0]
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        mark = root.start_mark
        return fail("NM007", f"the top level is {kind}; a spec is a mapping (apiVersion: ..., kind: ..., ...)",
                    mark.line + 1, mark.column + 1)
    reader = _Reader(file)
    data_out = reader.build(root, "", ())
    return ReadResult(data_out, SourceMap(reader.values, reader.keys), tuple(reader.diagnostics))


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:  # a yaml Mark (pure Python or libyaml's)
        super().__init__("too deep")
        self.line: int = mark.line + 1 if mark is not None else 1
        self.column: int = mark.column + 1 if mark is not None else 1


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML composes nodes recursively: a few hundred nested `[` exhaust Python's stack.
    Composition stops at MAX_DEPTH, where the spec reader would refuse the document anyway."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _TooDeep(event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _compose_all(text: str) -> list[yaml.Node]:
    loader = _BoundedLoader(text)
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        return nodes
    finally:
        loader.dispose()


def read_file(path: str, display: str) -> ReadResult:
    """Read a file from disk with the size bound checked before reading it whole."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                handle.seek(0, 2)
                size = handle.tell()
                diag = Diagnostic.at(Origin(display, 1, 1), "NM002",
                                     f"file is {size} bytes; a spec may be at most {MAX_FILE_BYTES} bytes (1 MiB)",
                                     hint="a site spec is a few kilobytes; is this the right file?")
                return ReadResult(None, SourceMap({}, {}), (diag,))
    except IsADirectoryError:
        return ReadResult(None, SourceMap({}, {}), (Diagnostic("error", "NM012", "is a folder, not a spec file", file=display),))
    except FileNotFoundError:
        return ReadResult(None, SourceMap({}, {}), (Diagnostic("error", "NM012", "no such file", file=display),))
    except OSError as exc:
        return ReadResult(None, SourceMap({}, {}), (Diagnostic("error", "NM012", f"cannot read: {exc.strerror}", file=display),))
    return read_bytes(data, display)
