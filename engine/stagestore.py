"""Stage results on disk, between builds: one file per key, its integrity checked on read.

A result is a tree of the project's frozen attrs classes, tuples, lists, mappings, numbers,
strings and numpy arrays. It is written as an uncompressed .npz: the arrays as themselves and
the tree as JSON naming each class by module and name. Reading rebuilds only attrs classes of
the engine package (no pickle: a cache folder is not trusted to run code), and only after the
file's SHA-256, stored in its first 32 bytes, matches the rest: a truncated or altered file is
a miss, never a result.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np


class Unstorable(TypeError):
    """The result holds something the store cannot write; it stays in memory only."""


def _encode(value: Any, arrays: list[np.ndarray]) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return {"$e": f"{type(value).__module__}:{type(value).__qualname__}", "v": _encode(value.value, arrays)}
    if isinstance(value, np.generic):
        return {"$g": value.dtype.str, "v": value.item()}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"$f": value.hex()}  # exact, NaN and infinities included
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise Unstorable("an object array")
        arrays.append(value)
        return {"$a": len(arrays) - 1}
    if attrs.has(type(value)):
        cls = type(value)
        if not cls.__module__.startswith("engine."):
            raise Unstorable(f"a {cls.__qualname__}")
        return {"$o": f"{cls.__module__}:{cls.__qualname__}",
                "f": {f.name: _encode(getattr(value, f.name), arrays) for f in attrs.fields(cls)}}
    if isinstance(value, tuple):
        return {"$t": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, Mapping):
        return {"$m": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    raise Unstorable(f"a {type(value).__qualname__}")


def _engine_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith("engine."):
        raise ValueError(f"not an engine class: {name}")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls  # type: ignore[no-any-return]


def _decode(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "$a" in tree:
        return arrays[f"a{tree['$a']}"]
    if "$f" in tree:
        return float.fromhex(tree["$f"])
    if "$g" in tree:
        return np.dtype(tree["$g"]).type(tree["v"])
    if "$t" in tree:
        return tuple(_decode(v, arrays) for v in tree["$t"])
    if "$m" in tree:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in tree["$m"]}
    if "$e" in tree:
        return _engine_class(tree["$e"])(_decode(tree["v"], arrays))
    cls = _engine_class(tree["$o"])
    if not attrs.has(cls):
        raise ValueError(f"not an attrs class: {tree['$o']}")
    values = {name: _decode(v, arrays) for name, v in tree["f"].items()}
    fields = attrs.fields(cls)
    instance = cls(**{f.alias: values[f.name] for f in fields if f.init})
    for f in fields:
        if not f.init:
            object.__setattr__(instance, f.name, values[f.name])
    return instance


def dumps(value: Any) -> bytes:
    arrays: list[np.ndarray] = []
    tree = json.dumps(_encode(value, arrays), separators=(",", ":"), sort_keys=True)
    buffer = io.BytesIO()
    named: dict[str, Any] = {f"a{i}": np.ascontiguousarray(a) for i, a in enumerate(arrays)}
    np.savez(buffer, tree=np.frombuffer(tree.encode(), dtype=np.uint8), **named)
    payload = buffer.getvalue()
    return hashlib.sha256(payload).digest() + payload


def loads(data: bytes) -> Any:
    """The stored value; ValueError when the bytes are not what dumps wrote."""
    digest, payload = data[:32], data[32:]
    if len(data) < 32 or hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum mismatch")
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    tree = json.loads(arrays.pop("tree").tobytes().decode())
    return _decode(tree, arrays)


@attrs.frozen
class StageStore:
    root: Path

    def _path(self, key: str) -> Path:
        stage, _, digest = key.partition(":")
        return self.root / stage / digest[:2] / f"{digest}.npz"

    def get(self, key: str) -> tuple[bool, Any]:
        try:
            return True, loads(self._path(key).read_bytes())
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError):
            return False, None  # missing, truncated, altered or from another layout: computed again

    def put(self, key: str, value: Any) -> None:
        try:
            data = dumps(value)
        except Unstorable:
            return
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stage.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError:  # a full or read-only cache folder costs speed, never a build
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
