"""A damaged, altered, newer or wrongly signed image is rejected with a clear NM7xx error;
mutated images never raise anything but ImageError."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import image
from engine.image import ImageError, write_image
from engine.image import layout as L
from engine.image import writer as W
from tests.image_nets import small_contents


def read_image(data, **kwargs):
    # the byte format holds networks no target runs (random ones here); test_image_runnable
    # covers the reader's refusal of those, these tests the format itself
    return image.read_image(data, runnable=False, **kwargs)


def parse_image(data, **kwargs):
    return image.parse_image(data, runnable=False, **kwargs)

CONTENTS = small_contents(placed=True)
IMAGE = write_image(CONTENTS)
H = L.HEADER.offsets
E = L.SECTION_ENTRY.offsets


def u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def put(data: bytes, at: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def reseal(data: bytes, *, sections: bool = True, crc: bool = True, sha: bool = True) -> bytes:
    """Recompute the checksums after a deliberate change, so the deeper checks are reached."""
    out = bytearray(data)
    if len(out) < L.HEADER.size:
        return bytes(out)
    trailer = u32(out, H["trailer_offset"])
    if sections:
        table, count, size = u32(out, H["table_offset"]), u32(out, H["section_count"]), L.SECTION_ENTRY.size
        for i in range(min(count, max(0, (len(out) - table) // size))):
            at = table + i * size
            off, n = u32(out, at + E["offset"]), u32(out, at + E["size"])
            if off + n <= len(out):
                struct.pack_into("<I", out, at + E["crc32"], zlib.crc32(bytes(out[off:off + n])))
    if trailer > len(out):
        return bytes(out)
    if crc:
        struct.pack_into("<I", out, H["crc32"], 0)
        struct.pack_into("<I", out, H["crc32"], zlib.crc32(bytes(out[:trailer])))
    if sha and trailer + L.TRAILER_SIGNED <= len(out):
        out[trailer + L.TRAILER_HASHED:trailer + L.TRAILER_SIGNED] = hashlib.sha256(bytes(out[:trailer + L.TRAILER_HASHED])).digest()
    return bytes(out)


def section(data: bytes, name: str, instance: int = 0):
    return next(s for s in parse_image(data).sections if (s.type_name, s.instance) == (name, instance))


def entry_at(data: bytes, index: int) -> int:
    return u32(data, H["table_offset"]) + index * L.SECTION_ENTRY.size


def rejects(data: bytes, code: str, message: str | None = None, **kwargs) -> ImageError:
    with pytest.raises(ImageError) as info:
        read_image(data, **kwargs)
    assert info.value.code == code, info.value.diagnostic.message
    if message is not None:
        assert info.value.diagnostic.message == message
    return info.value


def test_untouched_image_reads():
    assert read_image(IMAGE) == CONTENTS


@pytest.mark.parametrize("keep", [0, 3, 8, 40, 63, 64, 200, len(IMAGE) - 1])
def test_truncated_image(keep):
    cut = IMAGE[:keep]
    if keep < L.HEADER.size:
        rejects(cut, "NM702", f"image truncated at byte {keep}: the header alone needs 64 bytes")
    else:
        rejects(cut, "NM702", f"image truncated at byte {keep}: the header declares {len(IMAGE)} bytes")


def test_not_an_image():
    rejects(b"PK\x03\x04" + bytes(100), "NM701",
            "not an .nmc image: the file starts with 50 4b 03 04 00 00 00 00, expected 89 4e 4d 43 0d 0a 1a 0a")
    rejects(b"{}", "NM701", "not an .nmc image: 2 bytes without the .nmc magic")


def test_trailing_bytes():
    rejects(IMAGE + b"\0", "NM711", f"1 bytes follow the declared end of the image at byte {len(IMAGE)}")


def test_bit_flip_in_a_section_fails_the_image_crc():
    s = section(IMAGE, "WEIGHTS", 1)
    flipped = bytearray(IMAGE)
    flipped[s.offset + 20] ^= 0x04
    err = rejects(bytes(flipped), "NM704")
    assert err.diagnostic.message.startswith("image CRC-32 mismatch: the header says ")
    assert err.diagnostic.hint == "the file was corrupted in storage or transfer; rebuild or copy it again"


def test_bit_flip_with_image_crc_fixed_fails_the_section_crc():
    s = section(IMAGE, "NEURONS", 0)
    flipped = bytearray(IMAGE)
    flipped[s.offset + 40] ^= 0x80
    err = rejects(reseal(bytes(flipped), sections=False), "NM705")
    assert err.diagnostic.message.startswith("section NEURONS (core 0) CRC-32 mismatch: table says ")


def test_change_with_crcs_fixed_fails_the_sha256():
    s = section(IMAGE, "META")
    flipped = bytearray(IMAGE)
    flipped[s.offset + 16] ^= 1
    err = rejects(reseal(bytes(flipped), sha=False), "NM708")
    assert err.diagnostic.message.startswith("image SHA-256 mismatch: the trailer says ")


@pytest.mark.parametrize("major", [1, 3])
def test_other_major_version_is_refused(major):
    other = reseal(put(IMAGE, H["version_major"], "<H", major))
    rejects(other, "NM703", f"image format version {major}.0 is not supported: this reader reads major version 2 "
                            "(up to 2.2 fully, newer minors by skipping unknown sections)")


def test_newer_minor_version_with_an_unknown_section_is_read():
    sections = W._sections(CONTENTS) + [(200, 0, b"\x07" + bytes(15), 0)]
    data = W._assemble(sections, L.FLAG_LEARNING_LOCKED, L.FAMILY_IDS["xylo"], None)
    data = reseal(put(data, H["version_minor"], "<H", 7))
    parsed = parse_image(data)
    assert parsed.version == (2, 7)
    assert [s.type_name for s in parsed.sections if s.type == 200] == ["unknown"]
    assert parsed.contents == CONTENTS


def assemble(sections, *, minor: int, entry_size: int) -> bytes:
    """A second, plain assembler so a future minor's wider table entries can be tested."""
    table = 64
    pos = L.align(table + len(sections) * entry_size)
    entries, body = b"", b""
    start = pos
    for type_id, instance, payload, n_blocks in sections:
        entries += struct.pack("<HHIIIIIQ", type_id, 0, instance, pos, len(payload), zlib.crc32(payload), n_blocks, 0)
        entries += bytes(entry_size - 32)
        body += payload + bytes(L.align(len(payload)) - len(payload))
        pos = L.align(pos + len(payload))
    head = struct.pack("<8sHHHHIHHIIIIIIQQ", L.MAGIC, 2, minor, 64, entry_size, L.FLAG_LEARNING_LOCKED, 1, 0,
                       len(sections), table, pos, pos + 144, 0, 0, 0, 0)
    data = head + entries + bytes(start - 64 - len(entries)) + body
    data = data[:40] + struct.pack("<I", zlib.crc32(data)) + data[44:]
    data += b"NMCT" + bytes(44)  # flags, security version, reserved, key id: all zero
    return data + hashlib.sha256(data).digest() + bytes(64)


def test_plain_assembler_matches_the_writer():
    assert assemble(W._sections(CONTENTS), minor=0, entry_size=32) == IMAGE


def test_newer_minor_with_longer_table_entries_is_read():
    """A newer minor may append fields to entries: the reader strides by entry_size."""
    wide = assemble(W._sections(CONTENTS), minor=1, entry_size=48)
    assert read_image(wide) == CONTENTS


def test_newer_minor_with_an_unknown_block_tag_in_a_known_section_is_read():
    from engine.image.blocks import encode_text

    sections = []
    for type_id, instance, payload, n_blocks in W._sections(CONTENTS):
        if type_id == L.SECTION_BY_NAME["META"].id:  # a 1.x field the 1.0 reader does not know
            payload, n_blocks = payload + encode_text(99, "installer: line 4"), n_blocks + 1
        sections.append((type_id, instance, payload, n_blocks))
    assert read_image(assemble(sections, minor=3, entry_size=32)) == CONTENTS


def test_oversized_section_count():
    rejects(reseal(put(IMAGE, H["section_count"], "<I", 10**6)), "NM707",
            f"section table of 1000000 entries (32000000 bytes from byte 64) runs past the trailer at byte {len(IMAGE) - 144}")


def test_oversized_block_dimensions():
    s = section(IMAGE, "META")
    big = reseal(put(IMAGE, s.offset + 4, "<I", 2**31))  # the SITE text block's length
    err = rejects(big, "NM707")
    assert "declares 2147483648 elements" in err.diagnostic.message


def test_declared_population_larger_than_its_neurons():
    """The neuron count must be backed by stored neurons before anything is allocated."""
    s = section(IMAGE, "NETWORK")
    from engine.image.blocks import parse_blocks

    blocks = parse_blocks(IMAGE[s.offset:s.offset + s.size], s.block_count, "t")
    size_block = next(b for b in blocks if b.tag == L.tag_id("NETWORK", "POP_SIZE"))
    at = s.offset + size_block.offset + L.BLOCK.size
    rejects(reseal(put(IMAGE, at, "<I", 4_000_000_000)), "NM707",
            "section NETWORK: a population larger than 2^31-1 neurons")
    hidden = CONTENTS.network.population("hidden").size
    rejects(reseal(put(IMAGE, at, "<I", hidden + 1)), "NM711",
            f"population 'hidden' declares {hidden + 1} neurons, the cores hold {hidden}")


def test_overlapping_sections():
    second = u32(IMAGE, entry_at(IMAGE, 1) + E["offset"])
    first_size = u32(IMAGE, entry_at(IMAGE, 0) + E["size"])
    data = reseal(put(IMAGE, entry_at(IMAGE, 1) + E["offset"], "<I", second - 16))
    err = rejects(data, "NM706")
    assert err.diagnostic.message.startswith(f"section META (bytes {second - first_size}..{second}) overlaps section TARGET")


def test_section_out_of_bounds():
    data = reseal(put(IMAGE, entry_at(IMAGE, 0) + E["size"], "<I", len(IMAGE)))
    err = rejects(data, "NM706")
    assert "outside the payload area" in err.diagnostic.message


def test_misaligned_section():
    off = u32(IMAGE, entry_at(IMAGE, 0) + E["offset"])
    rejects(reseal(put(IMAGE, entry_at(IMAGE, 0) + E["offset"], "<I", off + 4)), "NM706")


def test_missing_required_section():
    data = reseal(put(IMAGE, entry_at(IMAGE, 0) + E["type"], "<H", 250))  # META becomes unknown
    rejects(data, "NM711", "required section META is missing")


# ---------------------------------------------------------------- signatures

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SIGNED = write_image(CONTENTS, signing_key=KEY)


def test_signed_image_verifies_with_its_key():
    parsed = parse_image(SIGNED, verify_key=KEY.public_key(), require_signature=True)
    assert parsed.signature == "valid"
    assert parsed.contents == CONTENTS
    assert parse_image(SIGNED).signature == "present, not checked"
    assert parse_image(IMAGE).signature == "unsigned"
    assert SIGNED == write_image(CONTENTS, signing_key=KEY)  # Ed25519 is deterministic


def test_wrong_key():
    from engine.image.keys import key_id

    err = rejects(SIGNED, "NM721", f"image is signed by key {key_id(KEY.public_key()).hex()[:16]}, which is not a "
                                   f"trusted key (trusted: {key_id(OTHER.public_key()).hex()[:16]})",
                  verify_key=OTHER.public_key())
    assert err.diagnostic.hint == "verify with the public key that signed it, or rebuild with a trusted key"
    # a key id rewritten to name the trusted key (digests repaired): the signature still fails
    forged = bytearray(SIGNED)
    at = len(forged) - L.TRAILER.size + L.TRAILER.offsets["key_id"]
    forged[at:at + 32] = key_id(OTHER.public_key())
    err = rejects(reseal(bytes(forged)), "NM709", f"Ed25519 signature does not verify with key "
                                                  f"{key_id(OTHER.public_key()).hex()[:16]}", verify_key=OTHER.public_key())
    assert err.diagnostic.hint == "the image was signed with another key or altered after signing"
    # several trusted keys: the key id picks the right one
    assert parse_image(SIGNED, verify_key=[OTHER.public_key(), KEY.public_key()]).signature == "valid"


def test_altered_signed_image_with_checksums_fixed():
    s = section(SIGNED, "POLICY")
    altered = bytearray(SIGNED)
    altered[s.offset + L.BLOCK.size] ^= 1
    rejects(reseal(bytes(altered)), "NM709", verify_key=KEY.public_key())


def test_unsigned_when_required():
    rejects(IMAGE, "NM710", "image is not signed and a signature is required",
            verify_key=KEY.public_key(), require_signature=True)
    rejects(SIGNED, "NM710", "a signature is required but no verify key was given to check it",
            require_signature=True)


def test_signature_stripped_and_flag_cleared_is_caught():
    trailer = u32(SIGNED, H["trailer_offset"])
    stripped = put(SIGNED, H["flags"], "<I", L.FLAG_LEARNING_LOCKED)
    stripped = put(stripped, trailer + 4, "<I", 0)
    rejects(reseal(stripped), "NM711", "unsigned image carries signature bytes")


# ---------------------------------------------------------------- fuzzing

MUTATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, len(IMAGE) - 1), st.integers(0, 7)),
        st.tuples(st.just("set32"), st.integers(0, len(IMAGE) - 4), st.integers(0, 2**32 - 1)),
        st.tuples(st.just("small32"), st.integers(0, len(IMAGE) // 4 - 1), st.integers(0, 70)),
        st.tuples(st.just("cut"), st.integers(0, len(IMAGE)), st.just(0)),
        st.tuples(st.just("insert"), st.integers(0, len(IMAGE)), st.integers(1, 48)),
    ),
    min_size=1, max_size=4)


def mutate(data: bytes, ops) -> bytes:
    out = bytearray(data)
    for op, at, arg in ops:
        if op == "flip" and at < len(out):
            out[at] ^= 1 << arg
        elif op == "set32" and at + 4 <= len(out):
            struct.pack_into("<I", out, at, arg)
        elif op == "small32" and 4 * at + 4 <= len(out):
            struct.pack_into("<I", out, 4 * at, arg)  # aligned small values hit counts and dims
        elif op == "cut":
            del out[at:]
        elif op == "insert":
            out[at:at] = bytes(arg)
    return bytes(out)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS, st.booleans(), st.booleans())
def test_fuzzed_images_raise_only_image_error(ops, fix_checksums, signed):
    data = mutate(SIGNED if signed else IMAGE, ops)
    if fix_checksums:
        data = reseal(data)
    try:
        parse_image(data, verify_key=KEY.public_key() if signed else None)
    except ImageError as exc:
        assert exc.diagnostic.code.startswith("NM7")
        assert exc.diagnostic.message
