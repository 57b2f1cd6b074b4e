"""The one table that defines the `.nmc` byte layout.

The writer, the reader, the generated C header (`nmc_format.h`) and the field tables in
docs/nmc-format.md are all derived from the structures below, so the tool and the firmware
cannot drift apart: change a field here and every consumer changes with it (the tests check
that the committed C header and the document still match this table).

Everything is little-endian. Fixed structures (header, section table entry, block header,
trailer) have explicit sizes and offsets; section payloads are sequences of typed blocks.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import attrs

MAGIC = b"\x89NMC\r\n\x1a\n"  # PNG-style: catches text-mode transfers and 7-bit channels
TRAILER_MAGIC = b"NMCT"
VERSION_MAJOR = 2  # 2: the trailer carries the security version and key id; every byte is authenticated
VERSION_MINOR = 2  # 1: the optional THERMAL section; 2: NETWORK's READOUT tag (membrane readouts)
# A writer stamps the lowest minor that holds what the image carries: an image without a
# THERMAL section is written as 2.0, byte for byte what a 2.0 writer wrote.
MINOR_OF_SECTION: dict[str, int] = {"THERMAL": 1}
# Tags a minor added to an existing section, written only when needed (a spike-readout image
# has no READOUT block and stays what the earlier minor wrote). A reader that knows the tag
# refuses a value it does not know, and refuses the tag in an image stamped below its minor.
MINOR_OF_TAG: dict[tuple[str, str], int] = {("NETWORK", "READOUT"): 2}
READOUT_IDS: dict[str, int] = {"spikes": 0, "membrane": 1}
ALIGN = 16  # every section and the trailer start on a multiple of this

FLAG_LEARNING_LOCKED = 1 << 0
FLAG_SIGNED = 1 << 1
FLAGS: tuple[tuple[str, int, str], ...] = (
    ("LEARNING_LOCKED", FLAG_LEARNING_LOCKED, "on-chip learning must stay off (runtime policy)"),
    ("SIGNED", FLAG_SIGNED, "the trailer carries an Ed25519 signature"),
)
FLAGS_KNOWN = FLAG_LEARNING_LOCKED | FLAG_SIGNED  # every other bit must be zero
# 24 bits: the firmware keeps its security-version floor in one 32-bit record word with an 8-bit kind
MAX_SECURITY_VERSION = (1 << 24) - 1

# An open list within a major version: every reader refuses an id it does not know (the Python
# reader NM711, the firmware runtime NM_RT_ERR_TARGET), so adding one changes no existing byte.
FAMILY_IDS: dict[str, int] = {"xylo": 1, "loihi": 2, "lif": 3, "speck": 4}

# ctype name -> (struct code, C type, size)
_SCALARS: dict[str, tuple[str, str, int]] = {
    "u8": ("B", "uint8_t", 1),
    "u16": ("H", "uint16_t", 2),
    "u32": ("I", "uint32_t", 4),
    "u64": ("Q", "uint64_t", 8),
    "i32": ("i", "int32_t", 4),
}


@attrs.frozen
class Field:
    name: str
    ctype: str  # key of _SCALARS
    count: int = 1  # > 1 only for u8 byte strings (magic, digests)
    doc: str = ""

    @property
    def size(self) -> int:
        return _SCALARS[self.ctype][2] * self.count

    @property
    def struct_code(self) -> str:
        if self.count > 1:
            if self.ctype != "u8":
                raise ValueError("only byte strings may repeat")
            return f"{self.count}s"
        return _SCALARS[self.ctype][0]


@attrs.frozen
class Struct:
    """A fixed little-endian record with natural alignment and no implicit padding."""

    name: str  # C name without prefix/suffix: header -> nmc_header_t
    doc: str
    fields: tuple[Field, ...]

    @property
    def format(self) -> str:
        return "<" + "".join(f.struct_code for f in self.fields)

    @property
    def size(self) -> int:
        return struct.calcsize(self.format)

    @property
    def offsets(self) -> dict[str, int]:
        out, pos = {}, 0
        for f in self.fields:
            out[f.name] = pos
            pos += f.size
        return out

    def pack(self, **values: int | bytes) -> bytes:
        missing = [f.name for f in self.fields if f.name not in values]
        extra = sorted(set(values) - {f.name for f in self.fields})
        if missing or extra:
            raise ValueError(f"{self.name}: missing {missing}, unknown {extra}")
        return struct.pack(self.format, *(values[f.name] for f in self.fields))

    def unpack(self, data: bytes | memoryview, offset: int = 0) -> Record:
        values = struct.unpack_from(self.format, data, offset)
        return Record(self.name, {f.name: v for f, v in zip(self.fields, values)})


@attrs.frozen
class Record:
    """One fixed structure as read: `record[name]` for an integer field, `record.raw(name)`
    for a byte string (the fields with a count)."""

    struct: str  # the structure's name, for messages
    values: Mapping[str, int | bytes]

    def __getitem__(self, name: str) -> int:
        value = self.values[name]
        if isinstance(value, bytes):
            raise TypeError(f"{self.struct}.{name} is a byte string; read it with raw()")
        return value

    def raw(self, name: str) -> bytes:
        value = self.values[name]
        if not isinstance(value, bytes):
            raise TypeError(f"{self.struct}.{name} is an integer; read it with []")
        return value


HEADER = Struct("header", "the first bytes of every image", (
    Field("magic", "u8", 8, "89 4E 4D 43 0D 0A 1A 0A"),
    Field("version_major", "u16", doc="a reader refuses a major it does not know"),
    Field("version_minor", "u16", doc="a reader accepts a newer minor and skips unknown sections"),
    Field("header_size", "u16", doc="bytes of this header; a newer minor may append fields"),
    Field("entry_size", "u16", doc="bytes per section table entry; a newer minor may append fields"),
    Field("flags", "u32", doc="NMC_FLAG_* bits"),
    Field("family", "u16", doc="NMC_FAMILY_* neuron model family"),
    Field("reserved0", "u16", doc="zero"),
    Field("section_count", "u32", doc="entries in the section table"),
    Field("table_offset", "u32", doc="byte offset of the section table (16-aligned)"),
    Field("trailer_offset", "u32", doc="byte offset of the trailer (16-aligned)"),
    Field("total_size", "u32", doc="bytes of the whole image, trailer included"),
    Field("crc32", "u32", doc="CRC-32 (IEEE) of bytes [0, trailer_offset) with this field as zero"),
    Field("reserved1", "u32", 1, "zero"),
    Field("reserved2", "u64", doc="zero"),
    Field("reserved3", "u64", doc="zero"),
))

SECTION_ENTRY = Struct("section_entry", "one row of the section table", (
    Field("type", "u16", doc="NMC_SECTION_* type"),
    Field("flags", "u16", doc="zero in this version"),
    Field("instance", "u32", doc="core index for per-core sections, else 0"),
    Field("offset", "u32", doc="byte offset of the payload (16-aligned)"),
    Field("size", "u32", doc="payload bytes, a multiple of 16 (blocks are padded)"),
    Field("crc32", "u32", doc="CRC-32 (IEEE) of the payload"),
    Field("block_count", "u32", doc="typed blocks in the payload"),
    Field("reserved", "u64", doc="zero"),
))

BLOCK = Struct("block_header", "header of one typed array inside a section payload", (
    Field("tag", "u16", doc="meaning of the block within its section (NMC_TAG_*)"),
    Field("dtype", "u8", doc="NMC_DTYPE_* element type"),
    Field("ndim", "u8", doc="0 (scalar), 1, 2 or 3"),
    Field("dim0", "u32", doc="first dimension (1 when ndim is 0)"),
    Field("dim1", "u32", doc="second dimension (1 when ndim < 2)"),
    Field("dim2", "u32", doc="third dimension (1 when ndim < 3)"),
))
BLOCK_DATA_ALIGN = 16  # data follows the block header; the next block starts 16-aligned

TRAILER = Struct("trailer", "the last bytes of every image", (
    Field("magic", "u8", 4, "4E 4D 43 54 (NMCT)"),
    Field("flags", "u32", doc="the header's NMC_FLAG_SIGNED bit and no other"),
    Field("security_version", "u32", doc="monotonic security version, 0..2^24-1; a node refuses one below its floor"),
    Field("reserved", "u32", doc="zero"),
    Field("key_id", "u8", 32, "SHA-256 of the raw 32-byte Ed25519 public key that signed; zero if unsigned"),
    Field("sha256", "u8", 32, "SHA-256 of every byte before this field: [0, trailer_offset + 48)"),
    Field("signature", "u8", 64, "Ed25519 signature of every byte before this field: [0, trailer_offset + 80); "
                                  "zero if unsigned"),
))
TRAILER_HASHED = TRAILER.offsets["sha256"]  # trailer bytes the SHA-256 covers (with everything before the trailer)
TRAILER_SIGNED = TRAILER.offsets["signature"]  # trailer bytes the signature covers (the SHA-256 included)


@attrs.frozen
class DType:
    code: int
    name: str
    numpy: str  # explicit little-endian numpy dtype string
    doc: str = ""


DTYPES: tuple[DType, ...] = (
    DType(1, "U8", "<u1"),
    DType(2, "I8", "<i1"),
    DType(3, "U16", "<u2"),
    DType(4, "I16", "<i2"),
    DType(5, "U32", "<u4"),
    DType(6, "I32", "<i4"),
    DType(7, "U64", "<u8"),
    DType(8, "I64", "<i8"),
    DType(9, "F64", "<f8", "IEEE-754 binary64"),
    DType(16, "UTF8", "<u1", "UTF-8 text, dim0 bytes, no terminator"),
)
DTYPE_BY_CODE: dict[int, DType] = {d.code: d for d in DTYPES}
DTYPE_UTF8 = 16


@attrs.frozen
class Tag:
    id: int
    name: str
    doc: str


@attrs.frozen
class SectionType:
    id: int
    name: str
    per_core: bool  # one section per core (instance = core index), else exactly one
    required: bool
    doc: str
    tags: tuple[Tag, ...]


SECTION_TYPES: tuple[SectionType, ...] = (
    SectionType(1, "META", False, True, "who and what the image is for", (
        Tag(1, "SITE", "UTF8: site id"),
        Tag(2, "SPEC_HASH", "UTF8: hash of the merged spec's image part and the files it references"),
        Tag(3, "TOOL_VERSION", "UTF8: nmspec version that wrote the image"),
        Tag(4, "MODEL_NAME", "UTF8: model name"),
        Tag(5, "LABEL", "UTF8, repeated: class labels in order"),
    )),
    SectionType(2, "TARGET", False, True, "chip and neuron model family", (
        Tag(1, "CHIP", "UTF8: catalog chip id"),
        Tag(2, "FAMILY", "UTF8: xylo, loihi, lif or speck (same as the header's family)"),
    )),
    SectionType(3, "NETWORK", False, True, "topology: populations, parameter names, projections", (
        Tag(1, "DT", "F64 scalar: seconds per time step"),
        Tag(2, "N_INPUTS", "U32 scalar: input channels"),
        Tag(3, "OUTPUT", "U32 scalar: index of the readout population"),
        Tag(4, "POP_NAME", "UTF8, repeated: population names in order"),
        Tag(5, "POP_SIZE", "U32 (n_pop): neurons per population"),
        Tag(6, "PARAM_COUNT", "U32 (n_pop): parameters per population"),
        Tag(7, "PARAM_NAME", "UTF8, repeated: parameter names, population by population"),
        Tag(8, "PARAM_SHAPE", "U32 (n_params, 2): ndim (1 or 2) and columns (1 for a vector)"),
        Tag(9, "PROJECTIONS", "I64 (n_proj, 4): src population (-1 = input), dst, synapse, shift"),
        Tag(10, "READOUT", "U8 scalar (format 2.2; absent = 0): what decides a window's class, 0 the readout's spike "
                           "counts, 1 its membrane (the output with the highest membrane over the window); written "
                           "only for 1, any other value is refused"),
    )),
    SectionType(4, "PLACEMENT", False, False, "mesh and core positions; absent for an unplaced network", (
        Tag(1, "MESH", "U32 (2): mesh width, height"),
        Tag(2, "CORE_XY", "I32 (n_cores, 2): x, y of each core"),
    )),
    SectionType(16, "NEURONS", True, True, "neuron parameters of one core", (
        Tag(1, "POP", "U32 scalar: population index; starts a group"),
        Tag(2, "INDEX", "unsigned (k): neuron indices of that population on this core, ascending"),
        Tag(3, "PARAM", "integer (k) or (k, cols): one per parameter, in NETWORK order"),
    )),
    SectionType(17, "WEIGHTS", True, True, "synapses stored on one core (the core of their target neuron)", (
        Tag(1, "PROJ", "U32 scalar: projection index; starts a group"),
        Tag(2, "INDPTR", "unsigned (n_src + 1): sparse form, CSR row pointers by source"),
        Tag(3, "INDICES", "unsigned (nnz): sparse form, target neuron indices, ascending per row"),
        Tag(4, "VALUES", "integer (nnz): sparse form, weights"),
        Tag(5, "DENSE", "integer (n_src, k): dense form over this core's target neurons; 0 = no synapse"),
    )),
    SectionType(18, "ROUTES", False, True, "router tables", (
        Tag(1, "ENTRIES", "U64 (n, 4): router, key, mask, out_links"),
    )),
    SectionType(32, "PREPROC", False, True, "fixed-point preprocessing coefficients", (
        Tag(1, "NAME", "UTF8: coefficient array name; starts a pair"),
        Tag(2, "ARRAY", "integer, any shape up to 3-D: the coefficients, dtype as given"),
    )),
    SectionType(33, "IO", False, True, "I/O channel maps", (
        Tag(1, "INPUT", "UTF8, repeated: input channel names in channel order"),
        Tag(2, "OUTPUT", "UTF8, repeated: output labels in output neuron order"),
    )),
    SectionType(48, "POLICY", False, True, "runtime policy and sanity bounds for rollback", (
        Tag(1, "LEARNING_LOCKED", "U8 scalar: 1 = on-chip learning stays off"),
        Tag(2, "CLASS_EXPECTED", "U32 (n_classes): expected share of each output class, ppm"),
        Tag(3, "CLASS_TOLERANCE", "U32 (n_classes): allowed deviation of each share, ppm"),
        Tag(4, "SPIKE_RATE", "U32 scalar: expected mean spike rate, milli-spikes per neuron per second"),
        Tag(5, "SPIKE_RATE_TOLERANCE", "U32 scalar: allowed deviation, same unit"),
        Tag(6, "DEAD_NEURON_WINDOW", "U32 scalar: seconds without a spike before a neuron counts as dead"),
        Tag(7, "SANITY_WINDOW", "U32 scalar: seconds after an update during which rollback is armed"),
    )),
    SectionType(49, "STATE", False, True, "versioned layout of the neuron state a snapshot holds", (
        Tag(1, "VERSION", "U32 scalar: layout version"),
        Tag(2, "HASH", "U8 (32): SHA-256 of the canonical layout text (docs/nmc-format.md)"),
        Tag(3, "POP", "U32 scalar: population index; starts a group"),
        Tag(4, "WORD_NAME", "UTF8: state word name"),
        Tag(5, "WORD_SPEC", "U32 (3): bits, signed (0/1), words per neuron"),
    )),
    SectionType(50, "THERMAL", False, False, "temperature compensation of an analog target (format 2.1; docs/analog.md)", (
        Tag(1, "EDGES", "I32 (bands + 1): band edges in centi-degrees Celsius, strictly ascending"),
        Tag(2, "HYSTERESIS", "U32 scalar: centi-kelvin a reading must pass a band edge by before the band changes"),
        Tag(3, "POP", "U32 scalar: population index; starts a group"),
        Tag(4, "THRESHOLD", "integer (bands, k): the population's thresholds to program in each band"),
    )),
)
SECTION_BY_ID: dict[int, SectionType] = {s.id: s for s in SECTION_TYPES}
SECTION_BY_NAME: dict[str, SectionType] = {s.name: s for s in SECTION_TYPES}


def tag_id(section: str, tag: str) -> int:
    for t in SECTION_BY_NAME[section].tags:
        if t.name == tag:
            return t.id
    raise KeyError(f"{section}.{tag}")


def tag_name(section_id: int, tag: int) -> str:
    section = SECTION_BY_ID.get(section_id)
    if section is not None:
        for t in section.tags:
            if t.id == tag:
                return t.name
    return f"tag{tag}"


FIXED_STRUCTS: tuple[Struct, ...] = (HEADER, SECTION_ENTRY, BLOCK, TRAILER)


def align(n: int, to: int = ALIGN) -> int:
    return (n + to - 1) // to * to


def _check_table() -> None:
    """Sizes must be multiples of 16 and every field naturally aligned (no C padding)."""
    for s in FIXED_STRUCTS:
        if s.size % ALIGN:
            raise AssertionError(f"{s.name} is {s.size} bytes, not a multiple of {ALIGN}")
        for f in s.fields:
            natural = _SCALARS[f.ctype][2]
            if s.offsets[f.name] % natural:
                raise AssertionError(f"{s.name}.{f.name} is not naturally aligned")


_check_table()


# ---------------------------------------------------------------- generated C header

def _c_field(f: Field) -> str:
    ctype = _SCALARS[f.ctype][1]
    array = f"[{f.count}]" if f.count > 1 else ""
    return f"    {ctype} {f.name}{array};"


def _c_define(name: str, value: str, width: int = 44) -> str:
    return f"#define {name.ljust(width)} {value}"


def generate_c_header() -> str:
    """The text of nmc_format.h: constants, structs and static assertions from this table."""
    out: list[str] = [
        "/* nmc_format.h: layout of the .nmc model image.",
        " * Generated from engine/image/layout.py; do not edit by hand.",
        " * All multi-byte fields are little-endian. See docs/nmc-format.md. */",
        "#ifndef NMC_FORMAT_H",
        "#define NMC_FORMAT_H",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        "/* _Static_assert is C11; C99 compilers with GNU extensions accept it marked as an",
        " * extension, which keeps -std=c99 -pedantic -Werror builds quiet. */",
        "#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L",
        "#define NMC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)",
        "#elif defined(__GNUC__)",
        "#define NMC_STATIC_ASSERT(cond, msg) __extension__ _Static_assert(cond, msg)",
        "#else",
        "#define NMC_STATIC_ASSERT_NAME2(line) nmc_static_assert_##line",
        "#define NMC_STATIC_ASSERT_NAME(line) NMC_STATIC_ASSERT_NAME2(line)",
        "#define NMC_STATIC_ASSERT(cond, msg) typedef char NMC_STATIC_ASSERT_NAME(__LINE__)[(cond) ? 1 : -1]",
        "#endif",
        "",
        _c_define("NMC_VERSION_MAJOR", f"{VERSION_MAJOR}u"),
        _c_define("NMC_VERSION_MINOR", f"{VERSION_MINOR}u"),
        _c_define("NMC_ALIGN", f"{ALIGN}u"),
        _c_define("NMC_FLAGS_KNOWN", f"0x{FLAGS_KNOWN:08X}u") + "  /* every other flag bit must be zero */",
        _c_define("NMC_MAX_SECURITY_VERSION", f"0x{MAX_SECURITY_VERSION:08X}u"),
        _c_define("NMC_MAGIC_SIZE", f"{len(MAGIC)}u"),
        _c_define("NMC_MAGIC_BYTES", "{" + ", ".join(f"0x{b:02X}" for b in MAGIC) + "}"),
        _c_define("NMC_TRAILER_MAGIC_BYTES", "{" + ", ".join(f"0x{b:02X}" for b in TRAILER_MAGIC) + "}"),
        "",
    ]
    for name, bit, doc in FLAGS:
        out.append(_c_define(f"NMC_FLAG_{name}", f"0x{bit:08X}u") + f"  /* {doc} */")
    out.append("")
    for name, fid in sorted(FAMILY_IDS.items(), key=lambda kv: kv[1]):
        out.append(_c_define(f"NMC_FAMILY_{name.upper()}", f"{fid}u"))
    out.append("")
    for d in DTYPES:
        out.append(_c_define(f"NMC_DTYPE_{d.name}", f"{d.code}u"))
    out.append("")
    for s in SECTION_TYPES:
        out.append(_c_define(f"NMC_SECTION_{s.name}", f"{s.id}u") + f"  /* {s.doc} */")
    out.append("")
    for s in SECTION_TYPES:
        for t in s.tags:
            out.append(_c_define(f"NMC_TAG_{s.name}_{t.name}", f"{t.id}u"))
    out.append("")
    for fixed in FIXED_STRUCTS:
        out.append(f"/* {fixed.doc} */")
        out.append(f"typedef struct nmc_{fixed.name} {{")
        out.extend(_c_field(f) for f in fixed.fields)
        out.append(f"}} nmc_{fixed.name}_t;")
        upper = fixed.name.upper()
        out.append(_c_define(f"NMC_{upper}_SIZE", f"{fixed.size}u"))
        for f in fixed.fields:
            out.append(_c_define(f"NMC_{upper}_OFF_{f.name.upper()}", f"{fixed.offsets[f.name]}u"))
        out.append(f"NMC_STATIC_ASSERT(sizeof(nmc_{fixed.name}_t) == NMC_{upper}_SIZE, \"nmc_{fixed.name}_t size\");")
        for f in fixed.fields:
            out.append(
                f"NMC_STATIC_ASSERT(offsetof(nmc_{fixed.name}_t, {f.name}) == NMC_{upper}_OFF_{f.name.upper()}, "
                f"\"nmc_{fixed.name}_t.{f.name} offset\");"
            )
        out.append("")
    out.append("#endif /* NMC_FORMAT_H */")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- generated documentation tables

def markdown_tables() -> str:
    """The field tables of docs/nmc-format.md, generated so the document cannot drift."""
    out: list[str] = []
    for fixed in FIXED_STRUCTS:
        out.append(f"### {fixed.name} ({fixed.size} bytes): {fixed.doc}")
        out.append("")
        out.append("| offset | field | type | meaning |")
        out.append("|---|---|---|---|")
        for f in fixed.fields:
            typ = f"{f.ctype}[{f.count}]" if f.count > 1 else f.ctype
            out.append(f"| {fixed.offsets[f.name]} | {f.name} | {typ} | {f.doc} |")
        out.append("")
    out.append("### Element types")
    out.append("")
    out.append("| code | name | numpy | note |")
    out.append("|---|---|---|---|")
    for d in DTYPES:
        out.append(f"| {d.code} | {d.name} | `{d.numpy}` | {d.doc} |")
    out.append("")
    out.append("### Section types and their block tags")
    out.append("")
    for s in SECTION_TYPES:
        kind = "one per core" if s.per_core else "one"
        need = "required" if s.required else "optional"
        out.append(f"#### {s.id} {s.name} ({kind}, {need}): {s.doc}")
        out.append("")
        out.append("| tag | name | content |")
        out.append("|---|---|---|")
        for t in s.tags:
            out.append(f"| {t.id} | {t.name} | {t.doc} |")
        out.append("")
    return "\n".join(out)


def flag_names(flags: int) -> tuple[str, ...]:
    return tuple(name for name, bit, _ in FLAGS if flags & bit)


FAMILY_BY_ID: Mapping[int, str] = {v: k for k, v in FAMILY_IDS.items()}
