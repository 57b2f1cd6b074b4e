"""Typed blocks: the unit every section payload is made of (header + array data, 16-aligned)."""

from __future__ import annotations

import attrs
import numpy as np

from engine.image import layout as L
from engine.image.errors import MALFORMED, OVERSIZED, image_error

_NUMPY_TO_CODE = {np.dtype(d.numpy): d.code for d in L.DTYPES if d.code != L.DTYPE_UTF8}
MAX_NDIM = 3

_UNSIGNED = ("<u1", "<u2", "<u4", "<u8")
_SIGNED = ("<i1", "<i2", "<i4", "<i8")


def compact_dtype(values: np.ndarray, *, unsigned_ok: bool = True) -> np.dtype:
    """The narrowest little-endian integer type that holds every value exactly."""
    if values.size == 0:
        return np.dtype("<u1" if unsigned_ok else "<i1")
    lo, hi = int(values.min()), int(values.max())
    candidates = _UNSIGNED if (unsigned_ok and lo >= 0) else _SIGNED
    for name in candidates:
        info = np.iinfo(np.dtype(name))
        if info.min <= lo and hi <= info.max:
            return np.dtype(name)
    raise ValueError(f"values {lo}..{hi} do not fit 64 bits")


def encode_array(tag: int, array: np.ndarray, dtype: np.dtype | str | None = None) -> bytes:
    array = np.asarray(array)
    target = np.dtype(dtype) if dtype is not None else array.dtype.newbyteorder("<")
    if array.ndim > MAX_NDIM:
        raise ValueError(f"arrays of more than {MAX_NDIM} dimensions are not stored")
    code = _NUMPY_TO_CODE.get(target.newbyteorder("<"))
    if code is None:
        raise ValueError(f"element type {array.dtype} cannot be stored")
    converted = array.astype(target.newbyteorder("<"), copy=False)
    if converted.dtype.kind in "iu" and array.size and not np.array_equal(converted, array):
        raise ValueError(f"values do not fit {target}")
    return _block(tag, code, array.shape, np.ascontiguousarray(converted).tobytes())


def encode_text(tag: int, text: str) -> bytes:
    raw = text.encode("utf-8")  # raises on lone surrogates; the writer checks first
    return _block(tag, L.DTYPE_UTF8, (len(raw),), raw)


def _block(tag: int, code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    dims = list(shape) + [1] * (3 - len(shape))
    head = L.BLOCK.pack(tag=tag, dtype=code, ndim=len(shape), dim0=dims[0], dim1=dims[1], dim2=dims[2])
    body = head + data
    return body + b"\0" * (L.align(len(body), L.BLOCK_DATA_ALIGN) - len(body))


@attrs.frozen(eq=False)
class Block:
    tag: int
    dtype: int
    shape: tuple[int, ...]
    data: bytes  # exactly the element bytes
    offset: int  # of the block header within the payload, for messages

    @property
    def is_text(self) -> bool:
        return self.dtype == L.DTYPE_UTF8

    @property
    def type_name(self) -> str:
        return L.DTYPE_BY_CODE[self.dtype].name

    def array(self) -> np.ndarray:
        """A read-only array over the stored elements (UTF-8 blocks give bytes as U8)."""
        dt = np.dtype(L.DTYPE_BY_CODE[self.dtype].numpy)
        array = np.frombuffer(self.data, dtype=dt).reshape(self.shape)
        array.setflags(write=False)
        return array


def parse_blocks(payload: bytes, declared_count: int, where: str) -> list[Block]:
    """Split a payload into blocks; every size is checked against the bytes that hold it."""
    blocks: list[Block] = []
    pos = 0
    head_size = L.BLOCK.size
    while pos < len(payload):
        if len(blocks) >= declared_count:
            raise image_error(MALFORMED, f"{where}: {len(payload) - pos} bytes after the declared {declared_count} blocks")
        if pos + head_size > len(payload):
            raise image_error(OVERSIZED, f"{where}: block header at payload byte {pos} runs past the section end")
        head = L.BLOCK.unpack(payload, pos)
        code, ndim = head["dtype"], head["ndim"]
        if code not in L.DTYPE_BY_CODE:
            raise image_error(MALFORMED, f"{where}: block at payload byte {pos} has unknown element type {code}")
        if ndim > MAX_NDIM or (code == L.DTYPE_UTF8 and ndim != 1):
            raise image_error(MALFORMED, f"{where}: block at payload byte {pos} has {ndim} dimensions")
        dims = (head["dim0"], head["dim1"], head["dim2"])
        if any(d != 1 for d in dims[ndim:]):
            raise image_error(MALFORMED, f"{where}: block at payload byte {pos} has unused dimensions not equal to 1")
        shape = dims[:ndim]
        count = 1
        for d in shape:
            count *= d
        itemsize = np.dtype(L.DTYPE_BY_CODE[code].numpy).itemsize
        nbytes = count * itemsize
        start = pos + head_size
        if nbytes > len(payload) - start:
            raise image_error(
                OVERSIZED,
                f"{where}: block at payload byte {pos} declares {count} elements ({nbytes} bytes) "
                f"but only {len(payload) - start} bytes remain in the section",
            )
        blocks.append(Block(head["tag"], code, tuple(shape), bytes(payload[start:start + nbytes]), pos))
        pos = L.align(start + nbytes, L.BLOCK_DATA_ALIGN)
    if len(blocks) != declared_count:
        raise image_error(MALFORMED, f"{where}: {len(blocks)} blocks found, the section table declares {declared_count}")
    return blocks
