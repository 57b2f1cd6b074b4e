"""Stage results shared across the sites one process builds, keyed by content.

A fleet's sites share a handful of models, chains and stimuli, so most of a site's work (the
chain over its stimuli, quantization, the float model's outputs, the kernel's verification
of the image's network) has been done already for another site with exactly the same inputs.
`call(stage, inputs, compute)` returns the stored result for the SHA-256 of the stage's name
and of its inputs' content, computing it once per distinct key. Inputs are the values the
stage reads (frozen attrs objects, arrays, numbers, strings, tuples, mappings), walked field
by field; anything else is refused rather than keyed by identity, so a key can never miss an
input. Arrays in a stored result are made read-only: a caller that tried to change a result
another site shares fails loudly instead of corrupting it.

The store is per process and bounded (least recently used entries go first). A fleet build
also gives it a folder (`use_folder`): results are then kept on disk between builds
(engine/stagestore.py), under the tool's digest, so a changed tool never reads an older
tool's results. `stats()` says how many distinct keys each stage computed and how often a
key was served again, from memory or from disk.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, TypeVar, cast

import attrs
import numpy as np

from engine.stagestore import StageStore

T = TypeVar("T")
MAX_ENTRIES = 256


def _feed(h: Any, value: object) -> None:
    if value is None or isinstance(value, bool):
        h.update(b"N" if value is None else (b"T" if value else b"F"))
    elif isinstance(value, enum.Enum):
        h.update(b"E" + type(value).__qualname__.encode() + b"\0")
        _feed(h, value.value)
    elif isinstance(value, int | np.integer):
        h.update(b"i" + str(int(value)).encode() + b"\0")
    elif isinstance(value, float | np.floating):
        h.update(b"f" + struct.pack("<d", float(value)))
    elif isinstance(value, str):
        data = value.encode()
        h.update(b"s" + struct.pack("<Q", len(data)) + data)
    elif isinstance(value, bytes):
        h.update(b"b" + struct.pack("<Q", len(value)) + value)
    elif isinstance(value, PurePath):
        _feed(h, value.as_posix())
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        h.update(b"a" + array.dtype.str.encode() + b"\0" + repr(array.shape).encode() + b"\0")
        h.update(array.tobytes() if array.dtype != object else _refuse(value))
    elif attrs.has(type(value)):
        h.update(b"o" + type(value).__module__.encode() + b"." + type(value).__qualname__.encode() + b"\0")
        for name in _field_names(value):
            h.update(name.encode() + b"=")
            _feed(h, getattr(value, name))
    elif isinstance(value, Mapping):
        h.update(b"m" + struct.pack("<Q", len(value)))
        for key in sorted(value, key=repr):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, list | tuple):
        h.update(b"l" + struct.pack("<Q", len(value)))
        for item in value:
            _feed(h, item)
    else:
        _refuse(value)


def _field_names(value: Any) -> list[str]:
    return [field.name for field in attrs.fields(type(value))]


def _refuse(value: object) -> bytes:
    raise TypeError(f"cannot key a stage on a {type(value).__qualname__}: give its content instead")


def content_digest(*values: object) -> str:
    h = hashlib.sha256()
    for value in values:
        _feed(h, value)
    return h.hexdigest()


def _freeze(value: object) -> None:
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    elif isinstance(value, Mapping):
        for item in value.values():
            _freeze(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _freeze(item)
    elif attrs.has(type(value)):
        for name in _field_names(value):
            _freeze(getattr(value, name))


@attrs.define
class StageStats:
    computed: int = 0  # distinct keys computed
    served: int = 0  # calls answered from the store


_STORE: OrderedDict[str, Any] = OrderedDict()
_STATS: dict[str, StageStats] = {}
_LOCK = threading.Lock()
_DISK: StageStore | None = None


def use_folder(folder: PurePath | None) -> None:
    """Keep results on disk under `folder` too (None: in memory only)."""
    global _DISK
    from pathlib import Path

    _DISK = StageStore(Path(folder)) if folder is not None else None


def call(stage: str, inputs: tuple[object, ...], compute: Callable[[], T]) -> T:
    """compute(), once per distinct content of `inputs` for this stage in this process."""
    key = stage + ":" + content_digest(*inputs)
    with _LOCK:
        stats = _STATS.setdefault(stage, StageStats())
        if key in _STORE:
            _STORE.move_to_end(key)
            stats.served += 1
            return _STORE[key]  # type: ignore[no-any-return]
    disk = _DISK
    found, stored = disk.get(key) if disk is not None else (False, None)
    result: T = cast(T, stored) if found else compute()
    _freeze(result)
    if not found and disk is not None:
        disk.put(key, result)
    with _LOCK:
        if found:
            stats.served += 1
        else:
            stats.computed += 1
        _STORE[key] = result
        while len(_STORE) > MAX_ENTRIES:
            _STORE.popitem(last=False)
    return result


def stats() -> dict[str, tuple[int, int]]:
    """stage -> (distinct keys computed, calls served from the store) in this process."""
    with _LOCK:
        return {stage: (s.computed, s.served) for stage, s in sorted(_STATS.items())}


def clear() -> None:
    with _LOCK:
        _STORE.clear()
        _STATS.clear()
