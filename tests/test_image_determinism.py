"""Identical input gives identical bytes, whatever the hash seed or working directory."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.image import write_image
from tests.image_nets import small_contents

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import hashlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from engine.image import write_image
from tests.image_nets import small_contents
key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
for family in ("xylo", "loihi", "lif"):
    for placed in (False, True):
        data = write_image(small_contents(placed=placed, family=family), signing_key=key)
        print(family, placed, hashlib.sha256(data).hexdigest())
"""


def _digests_here() -> list[str]:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    return [f"{family} {placed} {hashlib.sha256(write_image(small_contents(placed=placed, family=family), signing_key=key)).hexdigest()}"
            for family in ("xylo", "loihi", "lif") for placed in (False, True)]


def test_bytes_do_not_depend_on_hash_seed_or_directory(tmp_path):
    expected = _digests_here()
    for seed, cwd in (("0", tmp_path), ("1", ROOT), ("4242", tmp_path), ("random", ROOT)):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=cwd, env=env, check=True, capture_output=True, text=True)
        assert done.stdout.splitlines() == expected, f"PYTHONHASHSEED={seed} cwd={cwd}"


def test_population_parameter_order_does_not_change_the_bytes():
    """Parameters are written sorted by name, preprocessing arrays too."""
    import attrs

    from engine.netlist import Population

    contents = small_contents()
    pops = tuple(Population(p.name, p.size, dict(reversed(list(p.params.items())))) for p in contents.network.populations)
    shuffled = attrs.evolve(contents, network=attrs.evolve(contents.network, populations=pops),
                            preprocessing=dict(reversed(list(contents.preprocessing.items()))))
    assert write_image(shuffled) == write_image(contents)
