"""Reading arrays from an .npz file that may be hostile: every array's header is checked
against the bytes the archive stores for it before anything is allocated.

numpy allocates what an .npy header declares before reading its data, so a header that
claims terabytes costs terabytes; here the declared size must fit both a budget and the
stored (uncompressed) size of the member, and object arrays are refused outright.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

# Traces and spike counts of a site are a few MiB; this bounds one file's arrays together.
MAX_NPZ_BYTES = 512 * 1024 * 1024


class NpzError(ValueError):
    """Why the file is not a readable .npz (the message names no file)."""


def _member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype]:
    with archive.open(info) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise NpzError(f"array '{info.filename}' has .npy format version {version[0]}.{version[1]}")
        except NpzError:
            raise
        except (ValueError, EOFError, SyntaxError, TypeError) as exc:
            raise NpzError(f"array '{info.filename}' has no readable .npy header ({exc})") from None
    return tuple(int(n) for n in shape), np.dtype(dtype)


def read_npz(path: str | Path, *, max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """Every array of the archive by name (without `.npy`); NpzError when the file is not a
    zip of plain numeric .npy arrays whose declared sizes the archive actually holds."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise NpzError("not an .npz file (not a zip archive)") from None
    except OSError as exc:
        raise NpzError(f"cannot read it: {exc.strerror or exc}") from None
    with archive:
        total = 0
        members = [i for i in archive.infolist() if not i.is_dir()]
        for info in members:
            if not info.filename.endswith(".npy"):
                raise NpzError(f"member '{info.filename}' is not an .npy array")
            try:
                shape, dtype = _member_header(archive, info)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                raise NpzError(f"member '{info.filename}' cannot be read ({exc})") from None
            if dtype.hasobject or dtype.kind not in "biuf":
                raise NpzError(f"array '{info.filename[:-4]}' holds {dtype}, not numbers")
            declared = math.prod(shape) * dtype.itemsize
            if declared > info.file_size:
                raise NpzError(f"array '{info.filename[:-4]}' declares shape {shape} ({declared} bytes) "
                               f"but the archive stores {info.file_size} bytes for it")
            total += declared
            if total > max_bytes:
                raise NpzError(f"its arrays hold more than {max_bytes} bytes")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: np.asarray(data[name]) for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError) as exc:
            raise NpzError(f"not a readable .npz: {exc}") from None
