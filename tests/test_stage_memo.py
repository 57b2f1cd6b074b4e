"""Stage results shared across sites and kept between builds (engine.memo, engine.stagestore):
keys that see every input, results nobody can change, a disk store that serves only what it
checked, and bundles byte-identical to builds that shared nothing."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from engine import memo
from engine.catalog import builtin_catalog
from engine.netlist import Population, frozen_array
from engine.pipeline import BuildOptions, build_site
from engine.stagestore import StageStore, dumps, loads

SITES = ("specs/sites/plant-7-compressor-3.yaml", "specs/sites/plant-9-compressor-1.yaml")


@pytest.fixture(autouse=True)
def fresh_memo():
    memo.clear()
    memo.use_folder(None)
    yield
    memo.clear()
    memo.use_folder(None)


def test_the_key_sees_every_input():
    a = np.arange(6, dtype=np.int32)
    assert memo.content_digest(a) == memo.content_digest(np.arange(6, dtype=np.int32))
    others = [a.astype(np.int64), a.reshape(2, 3), a[::-1], np.arange(1, 7, dtype=np.int32)]
    assert len({memo.content_digest(x) for x in [a, *others]}) == 5
    assert memo.content_digest(1) != memo.content_digest(1.0) != memo.content_digest("1")
    assert memo.content_digest((1, 2)) != memo.content_digest((2, 1))
    pop = Population("hidden", 2, {"threshold": frozen_array([3, 4], np.int32)})
    assert memo.content_digest(pop) != memo.content_digest(attrs.evolve(pop, name="output"))
    with pytest.raises(TypeError, match="cannot key a stage on a object: give its content instead"):
        memo.content_digest(object())


def test_a_result_is_computed_once_per_key_and_cannot_be_changed():
    calls = []

    def compute():
        calls.append(1)
        return {"spikes": np.zeros(3)}

    first = memo.call("demo", (np.ones(2),), compute)
    again = memo.call("demo", (np.ones(2),), compute)
    memo.call("demo", (np.ones(3),), compute)
    assert again is first and len(calls) == 2
    assert memo.stats() == {"demo": (2, 1)}
    with pytest.raises(ValueError, match="read-only"):
        first["spikes"][0] = 1


def test_stage_results_round_trip_through_the_store():
    site = build_site(SITES[0], builtin_catalog(), BuildOptions(preview=True))
    assert site.files
    stored = [value for key, value in memo._STORE.items() if key.split(":")[0] in ("quantize", "verify.agreement")]
    assert len(stored) == 2
    for value in stored:
        assert memo.content_digest(loads(dumps(value))) == memo.content_digest(value)


def test_the_store_serves_nothing_it_cannot_check(tmp_path):
    store = StageStore(tmp_path)
    store.put("demo:" + "ab" * 32, (np.arange(4), {"x": 1.5}))
    path = next(tmp_path.rglob("*.npz"))
    found, value = store.get("demo:" + "ab" * 32)
    assert found and value[0].tolist() == [0, 1, 2, 3] and value[1] == {"x": 1.5}
    data = path.read_bytes()
    for broken in (data[:-1], data[:40], data[:100] + bytes([data[100] ^ 1]) + data[101:], b""):
        path.write_bytes(broken)
        assert store.get("demo:" + "ab" * 32) == (False, None)


def test_shared_and_stored_results_give_the_bundles_of_builds_that_share_nothing(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    catalog = builtin_catalog()
    options = BuildOptions(signing_key=Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    alone = {}
    for spec in SITES:
        memo.clear()
        alone[spec] = build_site(spec, catalog, options).files
    memo.clear()
    memo.use_folder(tmp_path)
    shared = {spec: build_site(spec, catalog, options).files for spec in SITES}
    assert shared == alone
    assert memo.stats()["nir"] == (1, 1)  # the two sites share their base's model
    memo.clear()  # a later build: every stage result comes from the disk store
    assert {spec: build_site(spec, catalog, options).files for spec in SITES} == alone
    assert all(computed == 0 for computed, _ in memo.stats().values())
    for path in tmp_path.rglob("*.npz"):  # a damaged store is computed again, to the same bytes
        path.write_bytes(path.read_bytes()[:-7])
    memo.clear()
    assert {spec: build_site(spec, catalog, options).files for spec in SITES} == alone
    assert all(served == 1 for stage, (_, served) in memo.stats().items() if stage == "nir")
