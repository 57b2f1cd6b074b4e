"""Build every bundle a revision of nmspec produces, or compare two such snapshots byte for byte.

    python tools/bundle_snapshot.py build CHECKOUT OUT [--fleet N]
    python tools/bundle_snapshot.py compare OUT_A OUT_B

`build` runs CHECKOUT's own engine (its folder first on PYTHONPATH) on CHECKOUT's specs/:
every site spec under specs/ into OUT/specs/<site>/, and with --fleet N a synthetic fleet of
N sites (tools/make_fleet.py, written once into OUT/fleet-specs) into OUT/fleet/<site>/.
Images are signed with a fixed Ed25519 key (signatures are deterministic) and the build
date is pinned, so two revisions that behave the same write the same bytes. `compare`
lists every file that exists in only one tree or differs, and exits 1 when any does: a
refactoring must leave it silent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# A throwaway key made only for snapshots: 32 fixed bytes, never used to sign a real image.
SNAPSHOT_SEED = bytes(range(32))


def _key_file(out: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(SNAPSHOT_SEED)
    path = out / "snapshot-signing-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _nmspec(checkout: Path, args: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(checkout), SOURCE_DATE_EPOCH="1700000000")
    env.pop("NMSPEC_SIGNING_KEY", None)
    done = subprocess.run([sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())", *args],
                          cwd=checkout, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"nmspec {' '.join(args)} exited {done.returncode}")


def build(checkout: Path, out: Path, fleet: int) -> None:
    checkout, out = checkout.resolve(), out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    key = _key_file(out)
    common = ["--no-cache", "--sign-key", str(key), "-q", "--jobs", "2"]
    _nmspec(checkout, ["build", "specs", "--out", str(out / "specs"), *common])
    if fleet:
        fleet_specs = out / "fleet-specs"
        if not fleet_specs.exists():
            subprocess.run([sys.executable, str(checkout / "tools" / "make_fleet.py"), str(fleet_specs),
                            "--sites", str(fleet)], check=True)
        _nmspec(checkout, ["build", str(fleet_specs / "sites"), "--out", str(out / "fleet"), *common])


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def compare(a: Path, b: Path) -> list[str]:
    problems = []
    for part in ("specs", "fleet"):
        left, right = _files(a / part) if (a / part).is_dir() else {}, _files(b / part) if (b / part).is_dir() else {}
        for name in sorted(set(left) | set(right)):
            if name not in right:
                problems.append(f"{part}/{name}: only in {a}")
            elif name not in left:
                problems.append(f"{part}/{name}: only in {b}")
            elif left[name].read_bytes() != right[name].read_bytes():
                problems.append(f"{part}/{name}: differs")
        if left or right:
            print(f"{part}: {len(set(left) & set(right))} files in both trees")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("checkout", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("--fleet", type=int, default=0, metavar="N")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.checkout, args.out, args.fleet)
        return 0
    problems = compare(args.a, args.b)
    print("\n".join(problems) if problems else "identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
