"""Mutation fuzzing of nmspec's three doors for outside bytes: the spec loader, the image
reader (with the kernel behind it) and bundle verification. Shared by the bounded campaign
in the test suite and the long one in `make bench` (bench/bench_fuzz.py).

Every input ends in one outcome: "ok" (accepted), "refused" (a diagnostic, exit 1 or 2),
"internal" (exit 70 or an exception that is not a diagnostic), "hang" (over the per-input
time limit), or for bundles "accepted-tampered" (verify passed a changed bundle).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import struct
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from engine.cli import main
from engine.image import layout as L

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "specs" / "examples"

BOUNDARY_INTS = (0, 1, 2**7, 2**8 - 1, 2**15, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1)
HOSTILE_YAML = ("[a]", "{}", "~", "-1", "0", "1e309", ".nan", "-.inf", "'" + "x" * 300 + "'", "&a x", "*a", "*nope",
                "!!python/object:os.system x", "[" * 80 + "]" * 80, "yes", "0755", "1:20", "1_000", "\"\\x00\"",
                "../../../../etc/passwd", "/dev/zero", "$delete", "{$delete: notch}", "2**40", "12:30:00",
                "99999999999999999999999", "-0", "''", "\t", "|\n  text", "? complex\n: key")


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise Hang in the main thread when the body runs longer than `seconds`."""
    def expired(_signum, _frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(args: list[str], cwd: Path, seconds: float) -> tuple[str, int | None, str]:
    """(outcome, exit code, stderr) of one in-process command."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(seconds):
            try:
                code = main(args)
            except SystemExit as exc:
                code = int(exc.code or 0)
    except Hang:
        return "hang", None, err.getvalue()
    finally:
        os.chdir(previous)
    if code == 70:
        return "internal", code, err.getvalue()
    return ("ok" if code == 0 else "refused" if code in (1, 2) else "internal"), code, err.getvalue()


# --- byte and text mutations ----------------------------------------------------------------

def mutate_bytes(rng: np.random.Generator, data: bytes, lo: int = 0, hi: int | None = None) -> bytes:
    """One random change inside data[lo:hi]: a bit flip, a boundary byte or integer, or a
    slice deleted, duplicated or cut off."""
    out = bytearray(data)
    hi = len(out) if hi is None else hi
    if hi <= lo:
        return bytes(out) + b"\0"
    at = int(rng.integers(lo, hi))
    kind = int(rng.integers(6))
    if kind == 0:
        out[at] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        out[at] = int(rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01]))
    elif kind == 2:
        width = int(rng.choice([2, 4, 8]))
        value = int(BOUNDARY_INTS[rng.integers(len(BOUNDARY_INTS))]) % (1 << (8 * width))
        at = min(at - at % width, max(hi - width, lo))
        out[at:at + width] = value.to_bytes(width, "little")[: max(0, min(width, len(out) - at))]
    elif kind == 3:
        n = int(rng.integers(1, 64))
        del out[at:at + n]
    elif kind == 4:
        n = int(rng.integers(1, 64))
        out[at:at] = out[at:at + n]
    else:
        del out[at:]
    return bytes(out)


def mutate_text(rng: np.random.Generator, text: bytes) -> bytes:
    """One change to a YAML file's lines: one deleted, repeated or swapped, a value replaced
    by (or a line of) a hostile YAML snippet, or a byte-level change."""
    lines = text.split(b"\n")
    at = int(rng.integers(len(lines)))
    kind = int(rng.integers(6))
    snippet = HOSTILE_YAML[rng.integers(len(HOSTILE_YAML))].encode()
    if kind == 0:
        del lines[at]
    elif kind == 1:
        lines.insert(at, lines[int(rng.integers(len(lines)))])
    elif kind == 2 and b":" in lines[at]:
        lines[at] = lines[at].split(b":", 1)[0] + b": " + snippet
    elif kind == 3:
        lines.insert(at, b" " * int(rng.choice([0, 2, 4])) + snippet)
    elif kind == 4:
        return mutate_bytes(rng, text)
    else:
        other = int(rng.integers(len(lines)))
        lines[at], lines[other] = lines[other], lines[at]
    return b"\n".join(lines)


# --- images -----------------------------------------------------------------------------------

def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def reseal(data: bytes) -> bytes:
    """Recompute every section CRC, the image CRC and the trailer SHA-256 that the bytes'
    own table and header point at, so a change reaches the checks behind them."""
    out = bytearray(data)
    h, e = L.HEADER.offsets, L.SECTION_ENTRY.offsets
    if len(out) < L.HEADER.size:
        return bytes(out)
    table, count, size = _u32(out, h["table_offset"]), _u32(out, h["section_count"]), L.SECTION_ENTRY.size
    for i in range(min(count, max(0, (len(out) - table) // size))):
        at = table + i * size
        off, n = _u32(out, at + e["offset"]), _u32(out, at + e["size"])
        if off + n <= len(out):
            struct.pack_into("<I", out, at + e["crc32"], zlib.crc32(bytes(out[off:off + n])))
    trailer = _u32(out, h["trailer_offset"])
    if trailer > len(out) or trailer < h["crc32"] + 4:
        return bytes(out)
    struct.pack_into("<I", out, h["crc32"], 0)
    struct.pack_into("<I", out, h["crc32"], zlib.crc32(bytes(out[:trailer])))
    hashed = trailer + L.TRAILER_HASHED  # the SHA-256 covers the trailer's words before it too
    if hashed + 32 <= len(out):
        out[hashed:hashed + 32] = hashlib.sha256(bytes(out[:hashed])).digest()
    return bytes(out)


def mutate_image(rng: np.random.Generator, image: bytes) -> bytes:
    """A change anywhere before the trailer (mostly in section payloads), resealed."""
    trailer = _u32(image, L.HEADER.offsets["trailer_offset"])
    changed = image
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(10))
        lo = 0 if kind == 0 else L.HEADER.size
        changed = mutate_bytes(rng, changed, lo, min(trailer, len(changed)))
    return reseal(changed)


def image_outcome(image: bytes, seconds: float) -> tuple[str, str]:
    """Read the image; if it reads, run its network through the kernel for a few steps."""
    from engine.diagnostics import StageError
    from engine.verify import kernel

    try:
        with time_limit(seconds):
            try:
                net = __import__("engine.image", fromlist=["read_image"]).read_image(image).network
            except StageError:
                return "refused", ""
            x = np.ones((4, net.n_inputs), dtype=np.int64)
            try:
                kernel.run(net, x)
            except StageError:
                return "refused", ""
            return "ok", ""
    except Hang:
        return "hang", ""
    except Exception as exc:  # noqa: BLE001  (what the campaign counts)
        return "internal", f"{type(exc).__name__}: {exc}"[:200]


# --- bundles ------------------------------------------------------------------------------------

def bundle_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def tamper_bundle(rng: np.random.Generator, folder: Path) -> str:
    """Change one file the manifest covers (or add, remove one); what was done."""
    manifest = json.loads((folder / "manifest.json").read_text())
    covered = sorted(manifest["files"])
    kind = int(rng.integers(8))
    name = covered[int(rng.integers(len(covered)))]
    if kind == 0:
        (folder / name).unlink()
        return f"removed {name}"
    data = (folder / name).read_bytes()
    changed = data
    while changed == data:
        changed = mutate_bytes(rng, data)
    (folder / name).write_bytes(changed)
    return f"changed {name}"


def restore(folder: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(folder)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def tally(outcomes: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(outcomes).items()))


# --- campaigns --------------------------------------------------------------------------------

def spec_repository(tmp: Path) -> tuple[Path, list[bytes]]:
    """A spec repository with the examples' models and traces, and the texts of every
    example and site spec to mutate."""
    repo = tmp / "repo"
    shutil.copytree(EXAMPLES, repo)
    (repo / ".git").mkdir()
    specs = sorted(EXAMPLES.glob("*.yaml")) + sorted((EXAMPLES.parent / "sites").glob("*.yaml"))
    return repo, [p.read_bytes() for p in specs]


def spec_campaign(tmp: Path, inputs: int, seed: int, seconds: float) -> tuple[dict[str, int], list[bytes]]:
    """`nmspec validate` on mutated example specs: the tally and the inputs that failed."""
    repo, texts = spec_repository(tmp)
    rng = np.random.default_rng(seed)
    outcomes, failures = [], []
    for i in range(inputs):
        text = texts[i % len(texts)]
        for _ in range(int(rng.integers(1, 4))):
            text = mutate_text(rng, text)
        (repo / "fuzzed.yaml").write_bytes(text)
        outcome, _code, _err = run_cli(["validate", "fuzzed.yaml"], repo, seconds)
        outcomes.append(outcome)
        if outcome in ("internal", "hang"):
            failures.append(text)
    return tally(outcomes), failures


def seed_images() -> list[bytes]:
    """Images of one small runnable network per family (Xylo with two synapses and aliases,
    Loihi and LIF layered) and a placed two-core LIF network with routing tables."""
    import attrs
    from kernel_nets import dimension_order_routes, layered, xylo

    from engine.image import ImageContents, IOMap, Metadata, RuntimePolicy, Target, write_image
    from engine.netlist import Placement, frozen_array

    rng = np.random.default_rng(7)
    nets = [
        xylo(2, rng.integers(-9, 9, (2, 3)), rng.integers(-9, 9, (3, 3)), rng.integers(-9, 9, (3, 2)),
             dash_syn=[1, 2, 3, 4, 5, 6], dash_mem=[2, 2, 2], threshold=[5, 5, 5], bias=[0, 1, 0], alias=[-1, 0, -1],
             out_params=([1, 1], [2, 2], [4, 4], [0, 0]), n_syn=2, syn_of_rec=1),
        layered("loihi", (3, 4, 2), rng),
        layered("lif", (3, 5, 2), rng),
    ]
    lif = layered("lif", (2, 4, 3), rng)
    cores = {p.name: frozen_array(np.arange(p.size) % 2, np.int32) for p in lif.populations}
    placed = attrs.evolve(lif, placement=Placement(2, 1, frozen_array([[0, 0], [1, 0]], np.int32), cores, ()))
    nets.append(attrs.evolve(placed, placement=attrs.evolve(placed.placement,
                                                            routes=tuple(dimension_order_routes(placed, 2)))))
    return [write_image(ImageContents(
        metadata=Metadata("fuzz", "h", "0.1.0", "m", ()), target=Target("chip", net.family), network=net,
        io=IOMap((), ()), policy=RuntimePolicy(True, (), (), 0, 0, 0, 0), preprocessing={})) for net in nets]


def image_campaign(inputs: int, seed: int, seconds: float) -> tuple[dict[str, int], list[tuple[bytes, str]]]:
    """The reader and the kernel on mutated, resealed images."""
    images = seed_images()
    rng = np.random.default_rng(seed)
    outcomes, failures = [], []
    for i in range(inputs):
        data = mutate_image(rng, images[i % len(images)])
        outcome, why = image_outcome(data, seconds)
        outcomes.append(outcome)
        if outcome in ("internal", "hang"):
            failures.append((data, why))
    return tally(outcomes), failures


def bundle_campaign(bundle: Path, spec: Path, inputs: int, seed: int, seconds: float
                    ) -> tuple[dict[str, int], list[str]]:
    """`nmspec verify` on a bundle with one covered file changed, removed or cut each time:
    every outcome but "refused" is a failure (accepted-tampered, internal, hang)."""
    original = bundle_files(bundle)
    rng = np.random.default_rng(seed)
    outcomes, failures = [], []
    try:
        for _ in range(inputs):
            what = tamper_bundle(rng, bundle)
            outcome, _code, err = run_cli(["verify", str(bundle), "--spec", str(spec)], spec.parent, seconds)
            outcome = "accepted-tampered" if outcome == "ok" else outcome
            outcomes.append(outcome)
            if outcome != "refused":
                failures.append(f"{what}: {outcome} {err[-300:]}")
            restore(bundle, original)
    finally:
        restore(bundle, original)
    return tally(outcomes), failures
