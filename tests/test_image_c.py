"""The C side: the generated header compiles with its static assertions, and nmc_image.c
(built with sanitizers) reaches the same verdicts as the Python reader on real and tampered
images, including the same CRC-32 and SHA-256."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine import image
from engine.image import ImageError, generate_c_header, write_image
from engine.image import layout as L
from tests.image_nets import small_contents
from tests.test_image_tamper import E, H, entry_at, put, reseal, section


def read_image(data, **kwargs):
    # the byte format holds networks no target runs (random ones here); test_image_runnable
    # covers the reader's refusal of those, these tests the format itself
    return image.read_image(data, runnable=False, **kwargs)


def parse_image(data, **kwargs):
    return image.parse_image(data, runnable=False, **kwargs)

C_DIR = Path(__file__).resolve().parents[1] / "engine" / "image" / "c"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def test_committed_header_is_the_generated_one():
    assert (C_DIR / "nmc_format.h").read_text() == generate_c_header()


@pytest.fixture(scope="module")
def nmc_check(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("c")
    (build / "nmc_format.h").write_text(generate_c_header())
    for name in ("nmc_image.h", "nmc_image.c", "nmc_check_main.c"):
        shutil.copy(C_DIR / name, build / name)
    exe = build / "nmc_check"
    subprocess.run(["gcc", *CFLAGS, "-I", str(build), str(build / "nmc_image.c"), str(build / "nmc_check_main.c"),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    return exe


def run_check(exe: Path, tmp_path: Path, data: bytes) -> tuple[int, list[str]]:
    path = tmp_path / "image.nmc"
    path.write_bytes(data)
    done = subprocess.run([str(exe), str(path)], check=False, capture_output=True, text=True, timeout=60)
    assert "runtime error" not in done.stderr and "AddressSanitizer" not in done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines()


def test_header_alone_compiles_with_its_static_assertions(tmp_path):
    (tmp_path / "nmc_format.h").write_text(generate_c_header())
    src = tmp_path / "t.c"
    src.write_text('#include "nmc_format.h"\nint main(void) { nmc_header_t h; (void)h; return (int)NMC_HEADER_SIZE - 64; }\n')
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), str(src), "-o",
                    str(tmp_path / "t")], check=True, capture_output=True)
    assert subprocess.run([str(tmp_path / "t")], check=False).returncode == 0
    # a wrong size in the table would stop the build: prove the assertions bite
    broken = generate_c_header().replace("#define NMC_TRAILER_SIZE                             144u",
                                         "#define NMC_TRAILER_SIZE                             143u")
    assert broken != generate_c_header()
    (tmp_path / "nmc_format.h").write_text(broken)
    failed = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), str(src), "-o",
                             str(tmp_path / "t2")], check=False, capture_output=True, text=True)
    assert failed.returncode != 0 and "nmc_trailer_t size" in failed.stderr


@pytest.mark.parametrize("family,placed,signed", [("xylo", True, False), ("loihi", False, True), ("lif", True, True),
                                                ("speck", False, False)])
def test_c_reader_agrees_with_python(nmc_check, tmp_path, family, placed, signed):
    key = Ed25519PrivateKey.from_private_bytes(bytes(32)) if signed else None
    contents = small_contents(placed=placed, family=family)
    data = write_image(contents, signing_key=key, security_version=5 if signed else 0)
    parsed = parse_image(data)
    layout = contents.resolved_state_layout
    rc, out = run_check(nmc_check, tmp_path, data)
    assert rc == 0
    expected = [
        "status OK",
        "version 2.0",
        f"flags {parsed.flags}",
        f"family {L.FAMILY_IDS[family]}",
        f"crc32 {parsed.crc32:08x}",
        f"sha256 {parsed.sha256}",
        f"security {parsed.security_version} key {parsed.key_id or '0' * 64}",
    ] + [f"section {s.type} {s.instance} {s.offset} {s.size} {s.block_count} ok" for s in parsed.sections] + [
        "site plant-7/compressor-3", f"state {layout.version} {layout.digest.hex()}"]
    assert out == expected


IMAGE = write_image(small_contents())


def _flip(data: bytes, at: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[at] ^= 1 << bit
    return bytes(out)


def _tampered() -> dict[str, bytes]:
    weights = section(IMAGE, "WEIGHTS", 1)
    second = struct.unpack_from("<I", IMAGE, entry_at(IMAGE, 1) + E["offset"])[0]
    return {
        "CRC": _flip(IMAGE, weights.offset + 17),
        "SECTION_CRC": reseal(_flip(IMAGE, weights.offset + 17), sections=False),
        "HASH": reseal(_flip(IMAGE, weights.offset + 17), sha=False),
        "TRUNCATED": IMAGE[:-1],
        "VERSION": reseal(put(IMAGE, H["version_major"], "<H", 3)),
        "RESERVED": reseal(put(IMAGE, H["reserved2"], "<Q", 1 << 40)),
        "MAGIC": _flip(IMAGE, 1),
        "BOUNDS": reseal(put(IMAGE, entry_at(IMAGE, 1) + E["offset"], "<I", second - 16)),
    }


@pytest.mark.parametrize("verdict", list(_tampered()))
def test_c_reader_rejects_tampered_images(nmc_check, tmp_path, verdict):
    rc, out = run_check(nmc_check, tmp_path, _tampered()[verdict])
    assert (rc, out) == (1, [f"status {verdict}"])


def test_c_block_walker_rejects_an_oversized_block(nmc_check, tmp_path):
    meta = section(IMAGE, "META")
    data = reseal(put(IMAGE, meta.offset + 4, "<I", 2**31))
    rc, out = run_check(nmc_check, tmp_path, data)
    assert rc == 0
    assert f"section 1 0 {meta.offset} {meta.size} 0 BLOCK" in out


def test_c_reader_refuses_a_section_listed_twice(nmc_check, tmp_path):
    """Two entries of one (type, instance): Python refuses the image, and so does C, whose
    look-up by type would otherwise pick one of the two silently."""
    routes = next(i for i, s in enumerate(parse_image(IMAGE).sections) if s.type_name == "ROUTES")
    preproc = next(s for s in parse_image(IMAGE).sections if s.type_name == "PREPROC")
    data = reseal(put(IMAGE, entry_at(IMAGE, routes) + E["type"], "<H", preproc.type))
    with pytest.raises(ImageError) as info:
        read_image(data)
    assert info.value.diagnostic.message == "section PREPROC appears twice in the section table"
    assert run_check(nmc_check, tmp_path, data) == (1, ["status BOUNDS"])


C_VERDICT = {"NM701": "MAGIC", "NM702": "TRUNCATED", "NM703": "VERSION", "NM704": "CRC", "NM705": "SECTION_CRC",
             "NM708": "HASH", "NM720": "RESERVED"}


def test_c_reader_on_mutated_images_never_crashes_and_agrees(nmc_check, tmp_path):
    """300 mutated images (half with checksums repaired) through the sanitized C reader in one
    process: it never faults, rejects whatever Python rejects for framing reasons with the
    same verdict, and accepts whatever Python reads."""
    import numpy as np

    from engine.image import ImageError, read_image
    from tests.test_image_tamper import mutate

    rng = np.random.default_rng(20261122)
    paths, expected = [], []
    for i in range(300):
        ops = []
        for _ in range(int(rng.integers(1, 4))):
            kind = ["flip", "set32", "small32", "cut", "insert"][int(rng.integers(5))]
            at = int(rng.integers(0, len(IMAGE) - 4))
            arg = {"flip": int(rng.integers(8)), "set32": int(rng.integers(2**32)), "small32": int(rng.integers(71)),
                   "cut": 0, "insert": int(rng.integers(1, 48))}[kind]
            ops.append((kind, at // 4 if kind == "small32" else at, arg))
        data = mutate(IMAGE, ops)
        if i % 2:
            data = reseal(data)
        path = tmp_path / f"m{i:03d}.nmc"
        path.write_bytes(data)
        paths.append(path)
        try:
            read_image(data)
            expected.append("OK")
        except ImageError as exc:
            expected.append(exc.code)
    done = subprocess.run([str(nmc_check), *map(str, paths)], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    verdicts = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("status ")]
    assert len(verdicts) == len(paths)
    for path, python, c in zip(paths, expected, verdicts):
        if python == "OK":
            assert c == "OK", path.name
        elif python in C_VERDICT:
            assert c == C_VERDICT[python], (path.name, python, c)
        if c != "OK":
            assert python != "OK", path.name
    assert {"OK", "CRC", "TRUNCATED"} <= set(verdicts)  # the mix reached both sides of the checks


def test_reader_builds_pedantic_for_the_host_and_a_cortex_m4(tmp_path):
    """The firmware build is C99 with -pedantic -Werror; the reader needs no libc beyond
    stdint/stddef, so it also builds freestanding for the Cortex-M4 target."""
    for name in ("nmc_image.h", "nmc_image.c"):
        shutil.copy(C_DIR / name, tmp_path / name)
    (tmp_path / "nmc_format.h").write_text(generate_c_header())
    strict = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-Wshadow", "-c"]
    subprocess.run(["gcc", *strict, str(tmp_path / "nmc_image.c"), "-o", str(tmp_path / "host.o")],
                   check=True, capture_output=True)
    subprocess.run(["arm-none-eabi-gcc", *strict, "-mcpu=cortex-m4", "-mthumb", "-Os", "-ffreestanding",
                    str(tmp_path / "nmc_image.c"), "-o", str(tmp_path / "m4.o")], check=True, capture_output=True)
    assert (tmp_path / "m4.o").stat().st_size > 0
