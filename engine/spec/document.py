"""Load a spec with its bases (`extends`) into one merged document that remembers, for
every value, the file, line and column that set it and the include chain that brought it.

Merge rules: mappings merge key by key; scalars and lists are replaced, except lists whose
schema names a merge key (preprocessing stages, by `id`, defaulting to the stage kind);
the value `$delete` removes an inherited key, and a list item `{$delete: <id>}` removes an
inherited stage; a new stage with `insert_after: <id>` (or `insert_before: <id>`) goes right
after (before) that inherited stage instead of at the end. Relative paths resolve from the file that declares them and must stay
inside the spec repository (the nearest folder holding `.git` or `nmspec.toml`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from engine.diagnostics import Diagnostic, Origin, Severity
from engine.spec.yamlread import ReadResult, dotted, pointer_join, read_file

DELETE = "$delete"
PLACE_KEYS = ("insert_after", "insert_before")  # where an overlay's new stage goes among the inherited ones
MERGE_KEYS = {"/preprocessing": "id"}  # list pointer -> merge key (from the schema)
STAGE_META_KEYS = ("id", DELETE, *PLACE_KEYS)
MAX_EXTENDS_DEPTH = 16


@attrs.frozen
class Located:
    origin: Origin
    chain: tuple[str, ...] = ()  # include chain, outermost spec first ("file:line:col")


@attrs.frozen
class SpecDocument:
    path: Path  # the spec asked for (absolute)
    display: str  # how diagnostics name it
    root: Path  # the spec repository root
    data: Any  # merged plain data (no `extends`)
    values: Mapping[str, Located]  # JSON pointer -> where the value was written
    keys: Mapping[str, Located]  # JSON pointer -> where the key was written
    files: tuple[str, ...]  # display names of every file read, in reading order
    absolute: Mapping[str, Path]  # display name -> absolute path

    def origin(self, pointer: str) -> Origin | None:
        found = self.values.get(pointer)
        return found.origin if found else None

    def key_origin(self, pointer: str) -> Origin | None:
        found = self.keys.get(pointer) or self.values.get(pointer)
        return found.origin if found else None

    def chain(self, pointer: str) -> tuple[str, ...]:
        found = self.values.get(pointer) or self.keys.get(pointer)
        return found.chain if found else ()

    def nearest(self, pointer: str) -> Located | None:
        """The location of `pointer` or of its closest ancestor that has one."""
        while True:
            found = self.values.get(pointer)
            if found is not None:
                return found
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]

    def at(self, pointer: str, code: str, message: str, *, hint: str | None = None,
           severity: Severity = "error", key: bool = False) -> Diagnostic:
        """A diagnostic about the value (or key) at `pointer`, with its include chain."""
        located = (self.keys.get(pointer) if key else None) or self.nearest(pointer)
        if located is None:
            return Diagnostic.at(Origin(self.display, 1, 1), code, message, path=pointer, hint=hint, severity=severity)
        exact = pointer in self.values or (key and pointer in self.keys)
        if not exact and located.chain:
            # nobody wrote this value: it is about the merged spec, which is the site's; report at
            # the site's extends line and name the base's section the default fell into
            site = _origin_of(located.chain[0])
            if site is not None:
                return Diagnostic.at(site, code, f"{message} ({dotted(pointer)} is not set; its section is in "
                                                 f"{located.origin})", path=pointer, hint=hint, severity=severity)
        return Diagnostic.at(located.origin, code, message, path=pointer, hint=hint, severity=severity,
                             chain=located.chain)

    def declaring_file(self, pointer: str) -> Path:
        """The absolute path of the file that wrote the value at `pointer`."""
        located = self.nearest(pointer)
        if located is None:
            return self.path
        return self.absolute.get(located.origin.file, self.path)

    def resolve_path(self, pointer: str, relative: str) -> Path:
        """A path written in the spec, resolved from the file that wrote it."""
        return (self.declaring_file(pointer).parent / relative).resolve()


def _origin_of(text: str) -> Origin | None:
    """'file:line:col' back into an Origin."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return Origin(parts[0], int(parts[1]), int(parts[2]))


@attrs.frozen
class _Layer:
    data: Any
    values: dict[str, Located]
    keys: dict[str, Located]


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding `.git` or `nmspec.toml`."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists() or (folder / "nmspec.toml").exists():
            return folder
    return start


def has_marker(folder: Path) -> bool:
    """Whether `folder` is a spec repository root by its marker, not by default."""
    return (folder / ".git").exists() or (folder / "nmspec.toml").exists()


def root_hint(root: Path, *paths: Path) -> str:
    """How to set the repository root so that `paths` are inside it: when no marker was
    found, the root defaulted to the spec's own folder, which is what is missing."""
    common = Path(os.path.commonpath([str(p) for p in (root, *paths)]))
    where = display_name(common) or "."
    if has_marker(root):
        return (f"the spec repository's root is {display_name(root) or '.'} (it holds .git or nmspec.toml); "
                "keep models, traces and bases inside it")
    return (f"no folder at or above the spec holds .git or nmspec.toml, so the spec repository is taken to be the "
            f"spec's own folder {display_name(root) or '.'}; create an empty nmspec.toml in {where} (the folder that "
            "holds the specs and the files they name), or run git init there")


def display_name(path: Path) -> str:
    try:
        relative = os.path.relpath(path, Path.cwd())
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


NAME_MAX, PATH_MAX = 255, 4095  # bytes, as POSIX systems allow them


def path_problem(written: str) -> str | None:
    """Why a path written in a spec cannot name a file on any POSIX system, or None."""
    if len(os.fsencode(written)) > PATH_MAX:
        return f"is longer than {PATH_MAX} bytes"
    longest = max(written.split("/"), key=lambda part: len(os.fsencode(part)))
    if len(os.fsencode(longest)) > NAME_MAX:
        return f"has a name of {len(os.fsencode(longest))} bytes; file and folder names hold at most {NAME_MAX}"
    return None


def is_file(path: Path) -> bool:
    """Path.is_file, false also for a name the system cannot look up (too long, a loop)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


class _Loader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.diagnostics: list[Diagnostic] = []
        self.files: list[str] = []
        self.absolute: dict[str, Path] = {}

    def load(self, path: Path, stack: tuple[Path, ...], chain: tuple[str, ...]) -> _Layer | None:
        display = display_name(path)
        if display not in self.absolute:
            self.files.append(display)
            self.absolute[display] = path
        result: ReadResult = read_file(str(path), display)
        if result.diagnostics:
            self.diagnostics += [attrs.evolve(d, chain=chain) for d in result.diagnostics]
            if any(d.severity == "error" for d in result.diagnostics):
                return None
        data = result.data
        values = {p: Located(o, chain) for p, o in result.source_map.values.items()}
        keys = {p: Located(o, chain) for p, o in result.source_map.keys.items()}
        own = _Layer(data, values, keys)
        bases = self.bases(path, display, data, own, stack, chain)
        if bases is None:
            return None
        merged: _Layer | None = None
        for base in bases:
            merged = base if merged is None else merge(merged, base)
        layer = _without_extends(own)
        return layer if merged is None else merge(merged, layer)

    def bases(self, path: Path, display: str, data: dict[str, Any], own: _Layer, stack: tuple[Path, ...],
              chain: tuple[str, ...]) -> list[_Layer] | None:
        raw = data.get("extends")
        if raw is None:
            return []
        entries = [raw] if isinstance(raw, str) else raw
        if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
            origin = own.values.get("/extends")
            self.diagnostics.append(Diagnostic.at(origin.origin if origin else Origin(display, 1, 1), "NM110",
                                                  "extends: expected a path or a list of paths", path="/extends", chain=chain))
            return None
        layers: list[_Layer] = []
        ok = True
        for index, entry in enumerate(entries):
            pointer = "/extends" if isinstance(raw, str) else f"/extends/{index}"
            where = own.values[pointer].origin
            here = f"{where}"
            target = (path.parent / entry).resolve()
            fail = None
            too_long = path_problem(entry)
            if too_long:
                fail = Diagnostic.at(where, "NM113", f"extends: the path {too_long}", path=pointer, chain=chain,
                                     hint="paths in extends are relative to the file that declares them")
            elif not _inside(target, self.root):
                fail = Diagnostic.at(where, "NM111", f"extends: '{entry}' is outside the spec repository ({display_name(self.root) or '.'})",
                                     path=pointer, chain=chain, hint=root_hint(self.root, target))
            elif target in stack or target == path:
                cycle = " -> ".join(display_name(p) for p in (*stack, path, target))
                fail = Diagnostic.at(where, "NM112", f"extends: cycle: {cycle}", path=pointer, chain=chain,
                                     hint="a spec cannot extend itself, directly or through its bases")
            elif not is_file(target):
                fail = Diagnostic.at(where, "NM113", f"extends: '{entry}' does not exist (looked for {display_name(target)})",
                                     path=pointer, chain=chain, hint="paths in extends are relative to the file that declares them")
            elif len(stack) >= MAX_EXTENDS_DEPTH:
                fail = Diagnostic.at(where, "NM114", f"extends: more than {MAX_EXTENDS_DEPTH} levels of bases", path=pointer, chain=chain)
            if fail is not None:
                self.diagnostics.append(fail)
                ok = False
                continue
            layer = self.load(target, (*stack, path), (*chain, here))
            if layer is None:
                ok = False
                continue
            layers.append(layer)
        return layers if ok else None


def _without_extends(layer: _Layer) -> _Layer:
    if not isinstance(layer.data, dict) or "extends" not in layer.data:
        return layer
    data = {k: v for k, v in layer.data.items() if k != "extends"}
    return _Layer(data, _drop(layer.values, "/extends"), _drop(layer.keys, "/extends"))


def _subtree(table: Mapping[str, Located], prefix: str) -> dict[str, Located]:
    return {p[len(prefix):]: v for p, v in table.items() if p == prefix or p.startswith(prefix + "/")}


def _drop(table: Mapping[str, Located], prefix: str) -> dict[str, Located]:
    return {p: v for p, v in table.items() if not (p == prefix or p.startswith(prefix + "/"))}


def _graft(table: dict[str, Located], prefix: str, sub: Mapping[str, Located]) -> None:
    for suffix, located in sub.items():
        table[prefix + suffix] = located


def merge(base: _Layer, over: _Layer) -> _Layer:
    values = dict(base.values)
    keys = dict(base.keys)
    data = _merge_value(base.data, over.data, "", base, over, values, keys)
    if "" in over.values:
        values[""] = over.values[""]  # the document itself is the outer file
    return _Layer(data, values, keys)


def _merge_value(base: Any, over: Any, pointer: str, bl: _Layer, ol: _Layer,
                 values: dict[str, Located], keys: dict[str, Located]) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        result = dict(base)
        for key, value in over.items():
            member = pointer_join(pointer, key)
            if value == DELETE:
                result.pop(key, None)
                for table in (values, keys):
                    for p in [p for p in table if p == member or p.startswith(member + "/")]:
                        del table[p]
                continue
            if key in result:
                result[key] = _merge_value(result[key], value, member, bl, ol, values, keys)
            else:
                result[key] = value
                _replace(values, keys, member, ol)
            if member in ol.keys:
                keys[member] = ol.keys[member]
        return result
    if isinstance(base, list) and isinstance(over, list) and pointer in MERGE_KEYS:
        return _merge_by_id(base, over, pointer, ol, values, keys)
    _replace(values, keys, pointer, ol)
    return over


def _replace(values: dict[str, Located], keys: dict[str, Located], pointer: str, ol: _Layer) -> None:
    for table, source in ((values, ol.values), (keys, ol.keys)):
        for p in [p for p in table if p == pointer or p.startswith(pointer + "/")]:
            del table[p]
        _graft(table, pointer, _subtree(source, pointer))


def stage_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    named = item.get("id")
    if isinstance(named, str):
        return named
    kinds = [k for k in item if k not in STAGE_META_KEYS]
    return kinds[0] if len(kinds) == 1 else None


def _merge_by_id(base: list[Any], over: list[Any], pointer: str, ol: _Layer,
                 values: dict[str, Located], keys: dict[str, Located]) -> list[Any]:
    # Work on (item, value-locations, key-locations) with pointers relative to the item,
    # then renumber: merged stages keep the base's position, new ones are appended.
    def split(items: list[Any], vtable: Mapping[str, Located],
              ktable: Mapping[str, Located]) -> list[tuple[Any, dict[str, Located], dict[str, Located]]]:
        return [(item, _subtree(vtable, f"{pointer}/{i}"), _subtree(ktable, f"{pointer}/{i}")) for i, item in enumerate(items)]

    merged = split(base, values, keys)
    for index, (item, ivals, ikeys) in enumerate(split(over, ol.values, ol.keys)):
        if isinstance(item, dict) and set(item) == {DELETE}:
            kept = [m for m in merged if stage_id(m[0]) != item[DELETE]]
            if len(kept) == len(merged):  # nothing to delete: keep the marker so validation names it
                kept.append((item, ivals, ikeys))
            merged = kept
            continue
        target = stage_id(item)
        position = next((i for i, m in enumerate(merged) if target is not None and stage_id(m[0]) == target), None)
        place = [k for k in PLACE_KEYS if isinstance(item, dict) and k in item]
        if position is None and len(place) == 1:
            anchor = next((i for i, m in enumerate(merged) if stage_id(m[0]) == item[place[0]]), None)
            if anchor is not None:  # consumed here; an anchor not inherited stays for validation to name
                key = place[0]
                item = {k: v for k, v in item.items() if k != key}
                ivals, ikeys = _drop(ivals, f"/{key}"), _drop(ikeys, f"/{key}")
                merged.insert(anchor + 1 if key == "insert_after" else anchor, (item, ivals, ikeys))
                continue
        if position is None:
            merged.append((item, ivals, ikeys))
            continue
        old_item, old_vals, old_keys = merged[position]
        scratch_vals = dict(old_vals)
        scratch_keys = dict(old_keys)
        sub_over = _Layer(item, ivals, ikeys)
        new_item = _merge_value(old_item, item, "", _Layer(old_item, old_vals, old_keys), sub_over, scratch_vals, scratch_keys)
        merged[position] = (new_item, scratch_vals, scratch_keys)
    list_origin = values.get(pointer)
    for table in (values, keys):
        for p in [p for p in table if p.startswith(pointer + "/")]:
            del table[p]
    if pointer in ol.values:
        values[pointer] = ol.values[pointer]
    elif list_origin is not None:
        values[pointer] = list_origin
    result = []
    for i, (item, ivals, ikeys) in enumerate(merged):
        result.append(item)
        _graft(values, f"{pointer}/{i}", ivals)
        _graft(keys, f"{pointer}/{i}", ikeys)
    return result


def load_spec(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None) -> tuple[SpecDocument | None, list[Diagnostic]]:
    """Read a spec and its bases. Returns the merged document (None when unreadable) and
    every diagnostic found while reading and merging."""
    absolute = Path(path).resolve()
    repo_root = Path(root).resolve() if root is not None else find_root(absolute.parent)
    loader = _Loader(repo_root)
    layer = loader.load(absolute, (), ())
    if layer is None:
        return None, loader.diagnostics
    document = SpecDocument(
        path=absolute,
        display=display_name(absolute),
        root=repo_root,
        data=layer.data,
        values=dict(sorted(layer.values.items())),
        keys=dict(sorted(layer.keys.items())),
        files=tuple(loader.files),
        absolute=dict(loader.absolute),
    )
    return document, loader.diagnostics


__all__ = ["Located", "SpecDocument", "display_name", "dotted", "find_root", "has_marker", "is_file", "load_spec",
           "path_problem", "root_hint", "stage_id"]
