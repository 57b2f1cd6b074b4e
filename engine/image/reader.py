"""read_image: `.nmc` bytes -> ImageContents, trusting nothing the bytes declare.

Every count and size is checked against the bytes that hold it before anything is
allocated, so a hostile image costs at most a few passes over its own length. Any problem
raises ImageError with one NM7xx diagnostic that says what and where.
"""

from __future__ import annotations

import hashlib
import itertools
import zlib
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

import attrs
import numpy as np
from numpy.typing import NDArray

from engine.diagnostics import Diagnostic
from engine.image import layout as L
from engine.image.blocks import Block, parse_blocks
from engine.image.contents import (
    ImageContents,
    IOMap,
    Metadata,
    PopulationState,
    RuntimePolicy,
    StateLayout,
    StateWord,
    Target,
    Thermal,
)
from engine.image.errors import (
    BAD_BOUNDS,
    BAD_MAGIC,
    BAD_SIGNATURE,
    CRC_MISMATCH,
    HASH_MISMATCH,
    MALFORMED,
    OVERSIZED,
    RESERVED_NOT_ZERO,
    SECTION_CRC_MISMATCH,
    STATE_LAYOUT_MISMATCH,
    TRUNCATED,
    UNSIGNED,
    UNSUPPORTED_VERSION,
    UNTRUSTED_KEY,
    ImageError,
    image_error,
)
from engine.image.limits import MAX_INPUTS
from engine.image.runnable import runnable_problems
from engine.netlist import (
    INPUT,
    Placement,
    Population,
    Projection,
    QuantNetwork,
    RouteEntry,
    Weights,
    frozen_array,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@attrs.frozen
class SectionInfo:
    type: int
    type_name: str  # "unknown" for a type this reader does not know (skipped)
    instance: int
    offset: int
    size: int
    crc32: int
    block_count: int


@attrs.frozen
class ParsedImage:
    """Everything inspect shows: header fields, section table, digests, signature status."""

    version: tuple[int, int]
    flags: int
    family: str
    total_size: int
    crc32: int
    sha256: str
    signature: str  # "unsigned", "valid", or "present, not checked"
    sections: tuple[SectionInfo, ...]
    contents: ImageContents
    security_version: int = 0
    key_id: str = ""  # hex SHA-256 of the signer's raw public key; "" when unsigned


def read_image(data: bytes, *, verify_key: Ed25519PublicKey | Collection[Ed25519PublicKey] | None = None,
               require_signature: bool = False, runnable: bool = True) -> ImageContents:
    return parse_image(data, verify_key=verify_key, require_signature=require_signature, runnable=runnable).contents


def parse_image(data: bytes, *, verify_key: Ed25519PublicKey | Collection[Ed25519PublicKey] | None = None,
                require_signature: bool = False, runnable: bool = True) -> ParsedImage:
    """The image's header, sections and contents. `verify_key`: one Ed25519 public key or
    several (the trusted set); the image's key id picks the one that must verify its
    signature. With runnable (the default) the network must also be one the kernel and the
    firmware can run (engine/image/runnable.py); only tests of the byte format itself read
    images of networks no target has."""
    data = bytes(data)
    head = _read_header(data)
    trailer_offset, total = head["trailer_offset"], head["total_size"]
    crc = zlib.crc32(data[:L.HEADER.offsets["crc32"]] + b"\0\0\0\0" + data[L.HEADER.offsets["crc32"] + 4:trailer_offset])
    if crc != head["crc32"]:
        raise image_error(CRC_MISMATCH, f"image CRC-32 mismatch: the header says {head['crc32']:08x}, "
                                        f"bytes 0..{trailer_offset} give {crc:08x}",
                          hint="the file was corrupted in storage or transfer; rebuild or copy it again")
    trailer = L.TRAILER.unpack(data, trailer_offset)
    if trailer.raw("magic") != L.TRAILER_MAGIC:
        raise image_error(MALFORMED, f"no trailer magic at byte {trailer_offset}")
    hashed = trailer_offset + L.TRAILER_HASHED
    digest = hashlib.sha256(data[:hashed]).digest()
    if digest != trailer.raw("sha256"):
        raise image_error(HASH_MISMATCH, f"image SHA-256 mismatch: the trailer says {trailer.raw('sha256').hex()}, "
                                         f"bytes 0..{hashed} give {digest.hex()}")
    _check_reserved(head, trailer)
    signature = _check_signature(data, head, trailer, verify_key, require_signature)
    sections = _read_table(data, head)
    contents = _decode(data, head, sections)
    if runnable:
        problems = runnable_problems(contents.network)
        if problems:
            raise ImageError([Diagnostic("error", MALFORMED, f"image cannot run: {p}") for p in problems])
    signed = bool(head["flags"] & L.FLAG_SIGNED)
    return ParsedImage(
        version=(head["version_major"], head["version_minor"]), flags=head["flags"],
        family=L.FAMILY_BY_ID[head["family"]], total_size=total, crc32=head["crc32"], sha256=digest.hex(),
        signature=signature, sections=tuple(sections), contents=contents,
        security_version=trailer["security_version"], key_id=trailer.raw("key_id").hex() if signed else "")


def _check_reserved(head: L.Record, trailer: L.Record) -> None:
    """Reserved fields and unknown flag bits must be zero: a newer writer that gives them a
    meaning bumps the version, and nothing unchecked can ride along in a signed image."""
    for name in ("reserved0", "reserved1", "reserved2", "reserved3"):
        if head[name]:
            raise image_error(RESERVED_NOT_ZERO, f"header field {name} is {head[name]:#x}; reserved fields must be zero")
    if head["flags"] & ~L.FLAGS_KNOWN:
        raise image_error(RESERVED_NOT_ZERO, f"header flags {head['flags']:#010x} set unknown bits "
                                             f"{head['flags'] & ~L.FLAGS_KNOWN:#010x}; only {L.FLAGS_KNOWN:#x} are defined")
    if trailer["flags"] & ~L.FLAG_SIGNED:
        raise image_error(RESERVED_NOT_ZERO, f"trailer flags {trailer['flags']:#010x} set bits other than SIGNED")
    if trailer["reserved"]:
        raise image_error(RESERVED_NOT_ZERO, f"trailer field reserved is {trailer['reserved']:#x}; it must be zero")
    if trailer["security_version"] > L.MAX_SECURITY_VERSION:
        raise image_error(RESERVED_NOT_ZERO, f"trailer security version {trailer['security_version']} is above "
                                             f"{L.MAX_SECURITY_VERSION}; its top 8 bits must be zero")


# ---------------------------------------------------------------- framing

def _read_header(data: bytes) -> L.Record:
    magic = L.MAGIC
    if len(data) < len(magic):
        if data == magic[:len(data)]:
            raise image_error(TRUNCATED, f"image truncated at byte {len(data)}: the header alone needs {L.HEADER.size} bytes")
        raise image_error(BAD_MAGIC, f"not an .nmc image: {len(data)} bytes without the .nmc magic")
    if data[:len(magic)] != magic:
        raise image_error(BAD_MAGIC, f"not an .nmc image: the file starts with {data[:len(magic)].hex(' ')}, "
                                     f"expected {magic.hex(' ')}")
    if len(data) < L.HEADER.size:
        raise image_error(TRUNCATED, f"image truncated at byte {len(data)}: the header alone needs {L.HEADER.size} bytes")
    head = L.HEADER.unpack(data)
    major, minor = head["version_major"], head["version_minor"]
    if major != L.VERSION_MAJOR:
        raise image_error(UNSUPPORTED_VERSION,
                          f"image format version {major}.{minor} is not supported: this reader reads major version "
                          f"{L.VERSION_MAJOR} (up to {L.VERSION_MAJOR}.{L.VERSION_MINOR} fully, newer minors by skipping unknown sections)",
                          hint="rebuild the image with a matching nmspec, or update the reader")
    if head["header_size"] < L.HEADER.size or head["entry_size"] < L.SECTION_ENTRY.size:
        raise image_error(UNSUPPORTED_VERSION, f"header declares a {head['header_size']}-byte header and "
                                               f"{head['entry_size']}-byte section entries; version {major}.x needs at "
                                               f"least {L.HEADER.size} and {L.SECTION_ENTRY.size}")
    if head["family"] not in L.FAMILY_BY_ID:
        raise image_error(MALFORMED, f"header names neuron family {head['family']}, which is not one of "
                                     + ", ".join(f"{v} ({k})" for k, v in sorted(L.FAMILY_IDS.items(), key=lambda kv: kv[1])))
    total = head["total_size"]
    if len(data) < total:
        raise image_error(TRUNCATED, f"image truncated at byte {len(data)}: the header declares {total} bytes")
    if len(data) > total:
        raise image_error(MALFORMED, f"{len(data) - total} bytes follow the declared end of the image at byte {total}")
    trailer_offset = head["trailer_offset"]
    if trailer_offset % L.ALIGN or trailer_offset + L.TRAILER.size != total or trailer_offset < head["header_size"]:
        raise image_error(BAD_BOUNDS, f"trailer at byte {trailer_offset} does not end the {total}-byte image "
                                      f"(it must be {L.TRAILER.size} bytes, {L.ALIGN}-aligned)")
    table, count, entry = head["table_offset"], head["section_count"], head["entry_size"]
    if table % L.ALIGN or table < head["header_size"]:
        raise image_error(BAD_BOUNDS, f"section table at byte {table} overlaps the header or is not {L.ALIGN}-aligned")
    if table + count * entry > trailer_offset:
        raise image_error(OVERSIZED, f"section table of {count} entries ({count * entry} bytes from byte {table}) "
                                     f"runs past the trailer at byte {trailer_offset}")
    return head


def _check_signature(data: bytes, head: L.Record, trailer: L.Record,
                     verify_key: Ed25519PublicKey | Collection[Ed25519PublicKey] | None, require: bool) -> str:
    signed = bool(head["flags"] & L.FLAG_SIGNED)
    if bool(trailer["flags"] & L.FLAG_SIGNED) != signed:
        raise image_error(MALFORMED, "header and trailer disagree on whether the image is signed")
    if not signed:
        if trailer.raw("signature") != bytes(64):
            raise image_error(MALFORMED, "unsigned image carries signature bytes")
        if trailer.raw("key_id") != bytes(32):
            raise image_error(MALFORMED, "unsigned image carries a key id")
        if require:
            raise image_error(UNSIGNED, "image is not signed and a signature is required",
                              hint="build it with --sign-key, or do not require a signature")
        return "unsigned"
    if verify_key is None:
        if require:
            raise image_error(UNSIGNED, "a signature is required but no verify key was given to check it")
        return "present, not checked"
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from engine.image.keys import key_id

    keys = [verify_key] if isinstance(verify_key, Ed25519PublicKey) else verify_key
    trusted = {key_id(k): k for k in keys}
    key = trusted.get(trailer.raw("key_id"))
    if key is None:
        known = ", ".join(sorted(k.hex()[:16] for k in trusted))
        raise image_error(UNTRUSTED_KEY, f"image is signed by key {trailer.raw('key_id').hex()[:16]}, which is not a trusted key "
                                         f"(trusted: {known})",
                          hint="verify with the public key that signed it, or rebuild with a trusted key")
    try:
        key.verify(trailer.raw("signature"), data[:head["trailer_offset"] + L.TRAILER_SIGNED])
    except InvalidSignature:
        raise image_error(BAD_SIGNATURE, f"Ed25519 signature does not verify with key {trailer.raw('key_id').hex()[:16]}",
                          hint="the image was signed with another key or altered after signing") from None
    return "valid"


def _read_table(data: bytes, head: L.Record) -> list[SectionInfo]:
    table, entry_size = head["table_offset"], head["entry_size"]
    first_free = table + head["section_count"] * entry_size
    sections = []
    for i in range(head["section_count"]):
        e = L.SECTION_ENTRY.unpack(data, table + i * entry_size)
        known = L.SECTION_BY_ID.get(e["type"])
        info = SectionInfo(e["type"], known.name if known else "unknown", e["instance"], e["offset"], e["size"],
                           e["crc32"], e["block_count"])
        label = _label(info)
        if e["flags"] or e["reserved"]:
            raise image_error(RESERVED_NOT_ZERO, f"{label}: table entry flags {e['flags']:#x} and reserved {e['reserved']:#x} "
                                                 "must be zero")
        if info.offset % L.ALIGN or info.size % L.ALIGN:
            raise image_error(BAD_BOUNDS, f"{label} at byte {info.offset} ({info.size} bytes) is not {L.ALIGN}-aligned")
        if info.offset < first_free or info.offset + info.size > head["trailer_offset"]:
            raise image_error(BAD_BOUNDS, f"{label} spans bytes {info.offset}..{info.offset + info.size}, outside the "
                                          f"payload area {first_free}..{head['trailer_offset']}")
        if info.block_count > info.size // L.BLOCK.size:
            raise image_error(OVERSIZED, f"{label} declares {info.block_count} blocks; {info.size} bytes hold at most "
                                         f"{info.size // L.BLOCK.size}")
        sections.append(info)
    by_offset = sorted(sections, key=lambda s: (s.offset, s.size))
    for a, b in itertools.pairwise(by_offset):
        if a.offset + a.size > b.offset:
            raise image_error(BAD_BOUNDS, f"{_label(a)} (bytes {a.offset}..{a.offset + a.size}) overlaps "
                                          f"{_label(b)} (bytes {b.offset}..{b.offset + b.size})")
    seen = set()
    for s in sections:
        if (s.type, s.instance) in seen:
            raise image_error(MALFORMED, f"{_label(s)} appears twice in the section table")
        seen.add((s.type, s.instance))
        crc = zlib.crc32(data[s.offset:s.offset + s.size])
        if crc != s.crc32:
            raise image_error(SECTION_CRC_MISMATCH, f"{_label(s)} CRC-32 mismatch: table says {s.crc32:08x}, "
                                                    f"payload gives {crc:08x}")
    return sections


def _label(s: SectionInfo) -> str:
    section = L.SECTION_BY_ID.get(s.type)
    if section is None:
        return f"section of unknown type {s.type}"
    return f"section {section.name}" + (f" (core {s.instance})" if section.per_core else "")


# ---------------------------------------------------------------- typed block access

class _Cursor:
    """Blocks of one section in order, consumed by tag; unknown tags were filtered out."""

    def __init__(self, section: str, blocks: list[Block], where: str):
        self.section = section
        self.where = where
        known = {t.id for t in L.SECTION_BY_NAME[section].tags}
        self.blocks = [b for b in blocks if b.tag in known]  # a newer minor may add tags
        self.pos = 0

    def _name(self, tag: str) -> str:
        return f"{self.where}: {tag}"

    def peek(self, tag: str) -> bool:
        return self.pos < len(self.blocks) and self.blocks[self.pos].tag == L.tag_id(self.section, tag)

    def take(self, tag: str) -> Block:
        if not self.peek(tag):
            found = (L.tag_name(L.SECTION_BY_NAME[self.section].id, self.blocks[self.pos].tag)
                     if self.pos < len(self.blocks) else "the end of the section")
            raise image_error(MALFORMED, f"{self.where}: expected a {tag} block, found {found}")
        block = self.blocks[self.pos]
        self.pos += 1
        return block

    def take_all(self, tag: str) -> list[Block]:
        out = []
        while self.peek(tag):
            out.append(self.take(tag))
        return out

    def done(self) -> None:
        if self.pos < len(self.blocks):
            extra = L.tag_name(L.SECTION_BY_NAME[self.section].id, self.blocks[self.pos].tag)
            raise image_error(MALFORMED, f"{self.where}: unexpected {extra} block at payload byte {self.blocks[self.pos].offset}")

    # typed views
    def text(self, tag: str) -> str:
        return _text(self.take(tag), self._name(tag))

    def ints(self, tag: str, shape: tuple[int | None, ...], *, unsigned64: bool = False) -> np.ndarray:
        array = _ints(self.take(tag), self._name(tag), shape)
        return array if unsigned64 else _as_int64(array, self._name(tag))

    def scalar(self, tag: str) -> int:
        return int(self.ints(tag, ()))


def _text(block: Block, name: str) -> str:
    if not block.is_text:
        raise image_error(MALFORMED, f"{name} should be UTF8 text, found {block.type_name}")
    try:
        return block.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise image_error(MALFORMED, f"{name} is not valid UTF-8 at byte {exc.start}") from None


def _ints(block: Block, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """The block as int64 (or uint64 for U64), checked against an expected shape (None = any)."""
    if block.is_text or block.type_name == "F64":
        raise image_error(MALFORMED, f"{name} should hold integers, found {block.type_name}")
    if len(block.shape) != len(shape) or any(want is not None and want != got for want, got in zip(shape, block.shape)):
        expected = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise image_error(MALFORMED, f"{name} has shape {block.shape}, expected {expected}")
    array = block.array()
    return array if block.type_name == "U64" else array.astype(np.int64)


def _as_int64(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint64 and array.size and int(array.max()) > 2**63 - 1:
        raise image_error(MALFORMED, f"{name} holds a value beyond 2^63-1")
    return array.astype(np.int64)


# ---------------------------------------------------------------- content decoding

class _Cursors(Protocol):
    """A cursor over the blocks of the section of that name and instance (core)."""

    def __call__(self, name: str, instance: int = 0) -> _Cursor: ...


def _decode(data: bytes, head: L.Record, sections: list[SectionInfo]) -> ImageContents:
    known: dict[tuple[str, int], list[Block]] = {}
    for s in sections:
        if s.type_name == "unknown":
            continue  # written by a newer minor version: skipped by design
        blocks = parse_blocks(data[s.offset:s.offset + s.size], s.block_count, _label(s))
        known[(s.type_name, s.instance)] = blocks
    for section in L.SECTION_TYPES:
        if section.required and not section.per_core and (section.name, 0) not in known:
            raise image_error(MALFORMED, f"required section {section.name} is missing")
        for name, instance in known:
            if name == section.name and not section.per_core and instance != 0:
                raise image_error(MALFORMED, f"section {name} has instance {instance}; only 0 is allowed")

    def cursor(name: str, instance: int = 0) -> _Cursor:
        section = L.SECTION_BY_NAME[name]
        where = f"section {name}" + (f" (core {instance})" if section.per_core else "")
        return _Cursor(name, known[(name, instance)], where)

    c = cursor("META")
    metadata = Metadata(c.text("SITE"), c.text("SPEC_HASH"), c.text("TOOL_VERSION"), c.text("MODEL_NAME"),
                        tuple(_text(b, "section META: LABEL") for b in c.take_all("LABEL")))
    c.done()
    c = cursor("TARGET")
    target = Target(c.text("CHIP"), c.text("FAMILY"))
    c.done()
    family = L.FAMILY_BY_ID[head["family"]]
    if target.family != family:
        raise image_error(MALFORMED, f"section TARGET names family {target.family!r}, the header {family!r}")
    network = _decode_network(family, cursor, known, head["version_minor"])
    c = cursor("IO")
    io = IOMap(tuple(_text(b, "section IO: INPUT") for b in c.take_all("INPUT")),
               tuple(_text(b, "section IO: OUTPUT") for b in c.take_all("OUTPUT")))
    c.done()
    policy = _decode_policy(cursor("POLICY"))
    if policy.learning_locked != bool(head["flags"] & L.FLAG_LEARNING_LOCKED):
        raise image_error(MALFORMED, "header flag LEARNING_LOCKED contradicts section POLICY")
    preprocessing = _decode_preprocessing(cursor("PREPROC"))
    state = _decode_state(cursor("STATE"), [p.name for p in network.populations])
    thermal = _decode_thermal(cursor("THERMAL"), network) if ("THERMAL", 0) in known else None
    return ImageContents(metadata=metadata, target=target, network=network, io=io, policy=policy,
                         preprocessing=preprocessing, state_layout=state, thermal=thermal)


def _decode_thermal(c: _Cursor, network: QuantNetwork) -> Thermal:
    edges = c.ints("EDGES", (None,))
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise image_error(MALFORMED, f"section THERMAL: band edges {edges.tolist()} are not at least two, strictly ascending")
    hysteresis = c.scalar("HYSTERESIS")
    names = [p.name for p in network.populations]
    thresholds: dict[str, np.ndarray] = {}
    last = -1
    while c.peek("POP"):
        index = c.scalar("POP")
        if not last < index < len(names):
            raise image_error(MALFORMED, f"section THERMAL: population index {index} is repeated, out of order or "
                                         f"beyond the {len(names)} populations")
        last = index
        values = c.ints("THRESHOLD", (edges.size - 1, network.population(names[index]).size))
        thresholds[names[index]] = frozen_array(values, np.int64)
    c.done()
    return Thermal(tuple(int(e) for e in edges), int(hysteresis), thresholds)


def _decode_policy(c: _Cursor) -> RuntimePolicy:
    locked = c.scalar("LEARNING_LOCKED")
    if locked not in (0, 1):
        raise image_error(MALFORMED, f"section POLICY: LEARNING_LOCKED is {locked}, expected 0 or 1")
    expected = c.ints("CLASS_EXPECTED", (None,))
    tolerance = c.ints("CLASS_TOLERANCE", (expected.shape[0],))
    policy = RuntimePolicy(
        learning_locked=bool(locked),
        class_expected_ppm=tuple(int(v) for v in expected),
        class_tolerance_ppm=tuple(int(v) for v in tolerance),
        spike_rate_mhz=c.scalar("SPIKE_RATE"), spike_rate_tolerance_mhz=c.scalar("SPIKE_RATE_TOLERANCE"),
        dead_neuron_window_s=c.scalar("DEAD_NEURON_WINDOW"), sanity_window_s=c.scalar("SANITY_WINDOW"))
    c.done()
    return policy


def _decode_preprocessing(c: _Cursor) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    while c.peek("NAME"):
        name = c.text("NAME")
        block = c.take("ARRAY")
        if block.is_text or block.type_name == "F64":
            raise image_error(MALFORMED, f"section PREPROC: {name!r} should hold integers, found {block.type_name}")
        if name in out or name == "":
            raise image_error(MALFORMED, f"section PREPROC: array name {name!r} is empty or repeated")
        out[name] = frozen_array(block.array(), block.array().dtype)
    c.done()
    if list(out) != sorted(out):
        raise image_error(MALFORMED, "section PREPROC: arrays are not sorted by name")
    return out


def _decode_state(c: _Cursor, pop_names: list[str]) -> StateLayout:
    version = c.scalar("VERSION")
    digest = bytes(c.ints("HASH", (32,)).astype(np.uint8))
    pops = []
    while c.peek("POP"):
        index = c.scalar("POP")
        if index >= len(pop_names):
            raise image_error(MALFORMED, f"section STATE: population index {index} of {len(pop_names)}")
        words = []
        while c.peek("WORD_NAME"):
            name = c.text("WORD_NAME")
            bits, signed, count = (int(v) for v in c.ints("WORD_SPEC", (3,)))
            if not 1 <= bits <= 64 or signed not in (0, 1):
                raise image_error(MALFORMED, f"section STATE: word {name!r} has {bits} bits, signed={signed}")
            words.append(StateWord(name, bits, bool(signed), count))
        pops.append(PopulationState(pop_names[index], tuple(words)))
    c.done()
    layout = StateLayout(version, tuple(pops))
    if layout.digest != digest:
        raise image_error(STATE_LAYOUT_MISMATCH, f"section STATE: stored layout digest {digest.hex()[:16]}... does not "
                                                 f"match the stored layout ({layout.digest.hex()[:16]}...)")
    return layout


def _decode_network(family: str, cursor: _Cursors, known: Mapping[tuple[str, int], list[Block]], minor: int) -> QuantNetwork:
    c = cursor("NETWORK")
    dt_block = c.take("DT")
    if dt_block.type_name != "F64" or dt_block.shape != ():
        raise image_error(MALFORMED, "section NETWORK: DT should be an F64 scalar")
    dt = float(dt_block.array())
    n_inputs = c.scalar("N_INPUTS")
    if n_inputs > MAX_INPUTS:
        raise image_error(OVERSIZED, f"section NETWORK: {n_inputs} input channels exceed the format limit of {MAX_INPUTS}")
    output = c.scalar("OUTPUT")
    names = [_text(b, "section NETWORK: POP_NAME") for b in c.take_all("POP_NAME")]
    n_pop = len(names)
    sizes = [int(v) for v in c.ints("POP_SIZE", (n_pop,))]
    if any(size > 2**31 - 1 for size in sizes):
        raise image_error(OVERSIZED, "section NETWORK: a population larger than 2^31-1 neurons")
    param_counts = [int(v) for v in c.ints("PARAM_COUNT", (n_pop,))]
    param_names = [_text(b, "section NETWORK: PARAM_NAME") for b in c.take_all("PARAM_NAME")]
    if sum(param_counts) != len(param_names):
        raise image_error(MALFORMED, f"section NETWORK: PARAM_COUNT adds up to {sum(param_counts)}, "
                                     f"{len(param_names)} PARAM_NAME blocks follow")
    shapes = c.ints("PARAM_SHAPE", (len(param_names), 2))
    projections = c.ints("PROJECTIONS", (None, 4))
    readout = "spikes"
    if c.peek("READOUT"):
        value = c.ints("READOUT", ())
        code = int(value)
        if minor < L.MINOR_OF_TAG[("NETWORK", "READOUT")]:
            raise image_error(MALFORMED, f"section NETWORK: READOUT is a format 2.{L.MINOR_OF_TAG[('NETWORK', 'READOUT')]} "
                                         f"tag in an image stamped 2.{minor}")
        names_of = {v: k for k, v in L.READOUT_IDS.items()}
        if code not in names_of:
            raise image_error(MALFORMED, f"section NETWORK: READOUT {code} is not one of "
                                         f"{', '.join(f'{v} ({k})' for k, v in L.READOUT_IDS.items())}")
        readout = names_of[code]
    c.done()
    if len(set(names)) != n_pop or "" in names or INPUT in names:
        raise image_error(MALFORMED, "section NETWORK: population names are empty, repeated or 'input'")
    if output >= n_pop:
        raise image_error(MALFORMED, f"section NETWORK: output population {output} of {n_pop}")
    pop_params: list[list[tuple[str, int]]] = []  # per population: (name, cols, or -1 for a vector)
    at = 0
    for count in param_counts:
        entries = []
        for j in range(at, at + count):
            ndim, cols = int(shapes[j, 0]), int(shapes[j, 1])
            if ndim not in (1, 2) or (ndim == 1 and cols != 1):
                raise image_error(MALFORMED, f"section NETWORK: parameter {param_names[j]!r} has shape code ({ndim}, {cols})")
            entries.append((param_names[j], cols if ndim == 2 else -1))
        if len({n for n, _ in entries}) != len(entries) or [n for n, _ in entries] != sorted(n for n, _ in entries):
            raise image_error(MALFORMED, "section NETWORK: parameter names of a population are repeated or unsorted")
        pop_params.append(entries)
        at += count
    for src, dst, _, _ in projections:
        if not -1 <= src < n_pop or not 0 <= dst < n_pop:
            raise image_error(MALFORMED, f"section NETWORK: projection {src} -> {dst} names a population outside 0..{n_pop - 1}")

    placement_blocks = ("PLACEMENT", 0) in known
    if placement_blocks:
        p = cursor("PLACEMENT")
        mesh = p.ints("MESH", (2,))
        core_xy_raw = p.ints("CORE_XY", (None, 2))
        p.done()
        if mesh.min() < 0 or mesh.max() > 2**32 - 1:
            raise image_error(MALFORMED, "section PLACEMENT: mesh width and height must be 0..2^32-1")
        if core_xy_raw.shape[0] < 1 or core_xy_raw.min() < -(2**31) or core_xy_raw.max() > 2**31 - 1:
            raise image_error(MALFORMED, "section PLACEMENT: CORE_XY needs at least one core and 32-bit coordinates")
        n_cores = int(core_xy_raw.shape[0])
    else:
        n_cores = 1
    for name, instance in known:
        if name in ("NEURONS", "WEIGHTS") and instance >= n_cores:
            raise image_error(MALFORMED, f"section {name} (core {instance}) exists but the image has {n_cores} cores")
    for core in range(n_cores):
        for name in ("NEURONS", "WEIGHTS"):
            if (name, core) not in known:
                raise image_error(MALFORMED, f"section {name} (core {core}) is missing")

    params, neuron_core = _decode_neurons(cursor, n_cores, names, sizes, pop_params)
    populations = tuple(Population(names[i], sizes[i], params[i]) for i in range(n_pop))
    all_sizes = {names[i]: sizes[i] for i in range(n_pop)} | {INPUT: n_inputs}
    proj_names = [(INPUT if src < 0 else names[src], names[dst]) for src, dst, _, _ in projections]
    weights = _decode_weights(cursor, n_cores, [(all_sizes[s], all_sizes[d]) for s, d in proj_names],
                              [int(d) for d in projections[:, 1]], neuron_core)
    projs = tuple(Projection(src=s, dst=d, weights=w, synapse=int(row[2]), shift=int(row[3]))
                  for (s, d), w, row in zip(proj_names, weights, projections))
    r = cursor("ROUTES")
    route_rows = r.ints("ENTRIES", (None, 4), unsigned64=True)
    if route_rows.size and route_rows.min() < 0:
        raise image_error(MALFORMED, "section ROUTES: a route field is negative")
    r.done()
    routes = tuple(RouteEntry(int(a), int(b), int(m), int(o)) for a, b, m, o in route_rows.tolist())
    placement = None
    if placement_blocks:
        placement = Placement(
            mesh_width=int(mesh[0]), mesh_height=int(mesh[1]), core_xy=frozen_array(core_xy_raw, np.int32),
            neuron_core={names[i]: frozen_array(neuron_core[i], np.int32) for i in range(n_pop)}, routes=routes)
    elif routes:
        raise image_error(MALFORMED, "section ROUTES has entries but the image has no PLACEMENT")
    return QuantNetwork(family=family, dt=dt, n_inputs=n_inputs, populations=populations, projections=projs,
                        output=names[output], placement=placement, readout=readout)


def _groups(c: _Cursor, start_tag: str) -> Iterable[int]:
    """Yield each group's leading index; indices must rise strictly (no group twice)."""
    last = -1
    while c.peek(start_tag):
        index = c.scalar(start_tag)
        if index <= last:
            raise image_error(MALFORMED, f"{c.where}: {start_tag} {index} repeated or out of order")
        last = index
        yield index
    c.done()


def _decode_neurons(cursor: _Cursors, n_cores: int, names: list[str], sizes: list[int],
                    pop_params: list[list[tuple[str, int]]]
                    ) -> tuple[list[dict[str, NDArray[np.int64]]], list[NDArray[np.int64]]]:
    n_pop = len(names)
    pieces: list[list[tuple[int, np.ndarray, list[np.ndarray]]]] = [[] for _ in range(n_pop)]
    for core in range(n_cores):
        c = cursor("NEURONS", core)
        for pop in _groups(c, "POP"):
            if pop >= n_pop:
                raise image_error(MALFORMED, f"{c.where}: population {pop} of {n_pop}")
            index = c.ints("INDEX", (None,))
            k = index.shape[0]
            if k == 0 or np.any(np.diff(index) <= 0) or index.min() < 0 or index.max() >= sizes[pop]:
                raise image_error(MALFORMED, f"{c.where}: neuron indices of {names[pop]!r} are empty, unsorted or "
                                             f"outside 0..{sizes[pop] - 1}")
            values = []
            for pname, cols in pop_params[pop]:
                shape = (k,) if cols < 0 else (k, cols)
                values.append(c.ints("PARAM", shape))
            pieces[pop].append((core, index, values))
    params, neuron_core = [], []
    for pop in range(n_pop):
        found = sum(p[1].shape[0] for p in pieces[pop])
        if found != sizes[pop]:  # checked before allocating anything of the declared size
            raise image_error(MALFORMED, f"population {names[pop]!r} declares {sizes[pop]} neurons, "
                                         f"the cores hold {found}")
        where = np.full(sizes[pop], -1, dtype=np.int64)
        arrays = []
        for pname, cols in pop_params[pop]:
            arrays.append(np.zeros((sizes[pop],) if cols < 0 else (sizes[pop], cols), dtype=np.int64))
        for core, index, values in pieces[pop]:
            if np.any(where[index] >= 0):
                raise image_error(MALFORMED, f"a neuron of {names[pop]!r} is placed on two cores")
            where[index] = core
            for array, v in zip(arrays, values):
                array[index] = v
        if np.any(where < 0):
            raise image_error(MALFORMED, f"a neuron of {names[pop]!r} is on no core (another is listed twice)")
        params.append({pname: frozen_array(a, np.int64) for (pname, _), a in zip(pop_params[pop], arrays)})
        neuron_core.append(where)
    return params, neuron_core


def _decode_weights(cursor: _Cursors, n_cores: int, dims: list[tuple[int, int]], dst_pop: list[int],
                    neuron_core: list[NDArray[np.int64]]) -> list[Weights]:
    n_proj = len(dims)
    parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(n_proj)]
    for core in range(n_cores):
        c = cursor("WEIGHTS", core)
        for proj in _groups(c, "PROJ"):
            if proj >= n_proj:
                raise image_error(MALFORMED, f"{c.where}: projection {proj} of {n_proj}")
            n_src, _ = dims[proj]
            dst_core = neuron_core[dst_pop[proj]]
            local = np.flatnonzero(dst_core == core)
            if c.peek("DENSE"):
                dense = c.ints("DENSE", (n_src, local.size))
                rows, k = np.nonzero(dense)
                cols, vals = local[k], dense[rows, k]
            else:
                indptr = c.ints("INDPTR", (n_src + 1,))
                cols = c.ints("INDICES", (None,))
                vals = c.ints("VALUES", (cols.shape[0],))
                if indptr[0] != 0 or indptr[-1] != cols.shape[0] or np.any(np.diff(indptr) < 0):
                    raise image_error(MALFORMED, f"{c.where}: projection {proj} row pointers are not 0..nnz, non-decreasing")
                rows = np.repeat(np.arange(n_src), np.diff(indptr))
                if cols.size and (cols.min() < 0 or cols.max() >= dst_core.size or np.any(dst_core[cols] != core)):
                    raise image_error(MALFORMED, f"{c.where}: projection {proj} has a target neuron not on this core")
                if np.any((rows[1:] == rows[:-1]) & (np.diff(cols) <= 0)):
                    raise image_error(MALFORMED, f"{c.where}: projection {proj} targets are not ascending within a row")
            if vals.size and (vals.min() < -(2**31) or vals.max() > 2**31 - 1):
                raise image_error(MALFORMED, f"{c.where}: projection {proj} has a weight beyond 32 bits")
            parts[proj].append((rows, cols, vals))
    out = []
    for proj, (n_src, n_dst) in enumerate(dims):
        if parts[proj]:
            rows = np.concatenate([p[0] for p in parts[proj]])
            cols = np.concatenate([p[1] for p in parts[proj]])
            vals = np.concatenate([p[2] for p in parts[proj]])
        else:
            rows = cols = vals = np.zeros(0, dtype=np.int64)
        order = np.argsort(rows * max(n_dst, 1) + cols) if len(parts[proj]) > 1 else slice(None)  # one part: sorted
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_src))]) if n_src else np.zeros(1, np.int64)
        out.append(Weights.from_csr(n_src, n_dst, indptr, cols[order], vals[order]))
    return out
