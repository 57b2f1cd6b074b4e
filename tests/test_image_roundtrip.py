"""write -> read gives back exactly what was written, for every family, placed or not."""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from engine import image
from engine.image import (
    ImageError,
    StateLayout,
    state_layout_for,
    write_image,
)
from engine.image import layout as L
from engine.netlist import QuantNetwork, Weights
from tests.image_nets import image_contents, small_contents


def read_image(data, **kwargs):
    # the byte format holds networks no target runs (random ones here); test_image_runnable
    # covers the reader's refusal of those, these tests the format itself
    return image.read_image(data, runnable=False, **kwargs)


def parse_image(data, **kwargs):
    return image.parse_image(data, runnable=False, **kwargs)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_contents())
def test_round_trip_of_random_contents_is_exact(contents):
    data = write_image(contents)
    back = read_image(data)
    assert back == contents
    assert back.network == contents.network
    # the same network again gives the same bytes
    assert write_image(back) == data


@pytest.mark.parametrize("family", ["xylo", "loihi", "lif"])
@pytest.mark.parametrize("placed", [False, True])
def test_round_trip_per_family(family, placed):
    for seed in range(5):
        contents = small_contents(placed=placed, seed=seed, family=family)
        back = read_image(write_image(contents))
        assert back == contents
        assert (back.network.placement is None) == (not placed)


def test_read_arrays_are_read_only_and_typed_as_the_netlist_says():
    back = read_image(write_image(small_contents()))
    for pop in back.network.populations:
        for array in pop.params.values():
            assert not array.flags.writeable
    for proj in back.network.projections:
        w = proj.weights
        assert (w.indptr.dtype, w.indices.dtype, w.values.dtype) == (np.int64, np.int32, np.int32)
    assert back.preprocessing["dc_block"].dtype == np.dtype("<i2")
    assert back.preprocessing["dc_block"].tolist() == [32604, -32768]


def test_stored_zero_weight_stays_a_synapse():
    contents = small_contents(placed=False)
    net = contents.network
    zero = Weights.from_csr(net.n_inputs, net.population("hidden").size, [0] + [1] * net.n_inputs, [0], [0])
    from engine.netlist import Projection

    proj = Projection("input", "hidden", zero)
    net2 = QuantNetwork(net.family, net.dt, net.n_inputs, net.populations, (proj,), net.output, None)
    back = read_image(write_image(_with_network(contents, net2)))
    assert back.network.projections[0].weights.nnz == 1
    assert back.network.projections[0].weights.values.tolist() == [0]


def _with_network(contents, network):
    import attrs

    return attrs.evolve(contents, network=network, state_layout=None)


def _entries(data):
    return {(s.type_name, s.instance): s for s in parse_image(data).sections}


def _weights_blocks(data, core=0):
    from engine.image.blocks import parse_blocks

    s = _entries(data)[("WEIGHTS", core)]
    return [L.tag_name(s.type, b.tag) for b in parse_blocks(data[s.offset:s.offset + s.size], s.block_count, "t")]


def _single_projection(dense):
    contents = small_contents(placed=False, family="lif")
    from engine.netlist import Population, Projection, frozen_array

    n_src, n_dst = dense.shape
    pop = Population("p", n_dst, {k: frozen_array(np.zeros(n_dst), np.int32) for k in ("decay_syn", "decay_mem", "threshold", "bias")})
    net = QuantNetwork("lif", 0.001, n_src, (pop,), (Projection("input", "p", Weights.from_dense(dense)),), "p")
    return _with_network(contents, net)


def test_dense_storage_for_a_full_matrix_and_sparse_for_a_sparse_one():
    full = np.arange(1, 65).reshape(8, 8)
    assert _weights_blocks(write_image(_single_projection(full))) == ["PROJ", "DENSE"]
    sparse = np.zeros((64, 64), dtype=int)  # dense: 4096 bytes; CSR: 65 + 1 + 1 bytes
    sparse[2, 5] = 9
    assert _weights_blocks(write_image(_single_projection(sparse))) == ["PROJ", "INDPTR", "INDICES", "VALUES"]
    for dense in (full, sparse):
        back = read_image(write_image(_single_projection(dense)))
        assert np.array_equal(back.network.projections[0].weights.to_dense(), dense)


def test_dense_block_bytes_by_hand():
    # 2x2 weights [[1, -2], [3, 4]] fit int8: block header (16) + 4 bytes, padded to 32
    data = write_image(_single_projection(np.array([[1, -2], [3, 4]])))
    s = _entries(data)[("WEIGHTS", 0)]
    payload = data[s.offset:s.offset + s.size]
    dense_head = payload[32:48]
    assert dense_head == bytes([5, 0, 2, 2, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0])  # tag 5, I8, 2-D, 2x2
    assert payload[48:52] == bytes([1, 0xFE, 3, 4])


def test_header_fields_by_hand():
    data = write_image(small_contents())
    assert data[:8] == b"\x89NMC\r\n\x1a\n"
    assert int.from_bytes(data[8:10], "little") == 2 and int.from_bytes(data[10:12], "little") == 0
    # offsets: magic 0, versions 8/10, sizes 12/14, flags 16, family 20, count 24, table 28,
    # trailer 32, total 36, crc 40
    total = int.from_bytes(data[36:40], "little")
    trailer = int.from_bytes(data[32:36], "little")
    assert total == len(data) and trailer == len(data) - 144 and trailer % 16 == 0
    # trailer: magic 0, flags 4, security version 8, reserved 12, key id 16, sha256 48, signature 80
    assert data[trailer:trailer + 4] == b"NMCT" and data[trailer + 4:trailer + 48] == bytes(44)
    assert data[trailer + 48:trailer + 80] == hashlib.sha256(data[:trailer + 48]).digest()
    assert int.from_bytes(data[40:44], "little") == zlib.crc32(data[:40] + bytes(4) + data[44:trailer])
    flags = int.from_bytes(data[16:20], "little")
    assert flags == 1  # learning locked, unsigned
    for s in parse_image(data).sections:
        assert s.offset % 16 == 0 and s.size % 16 == 0


def test_state_layout_is_stored_and_its_digest_checked():
    contents = small_contents(family="loihi")
    back = read_image(write_image(contents))
    layout = back.state_layout
    assert layout == state_layout_for(contents.network)
    assert layout.canonical_text().splitlines()[:4] == [
        "nmc-state-layout 1", f"population {contents.network.populations[0].name}",
        "  word u bits=24 signed=1 count=1", "  word v bits=24 signed=1 count=1"]
    assert layout.digest == hashlib.sha256(layout.canonical_text().encode()).digest()
    other = StateLayout(2, layout.populations)
    assert read_image(write_image(_evolve(contents, state_layout=other))).state_layout.version == 2


def _evolve(contents, **changes):
    import attrs

    return attrs.evolve(contents, **changes)


def test_writer_lists_every_problem_at_once():
    contents = small_contents(placed=False)
    import attrs

    from engine.image import Target

    bad = attrs.evolve(contents, target=Target("x", "loihi"),
                       network=attrs.evolve(contents.network, output="nope", n_inputs=-1))
    with pytest.raises(ImageError) as info:
        write_image(bad)
    messages = [d.message for d in info.value.diagnostics]
    assert {d.code for d in info.value.diagnostics} == {"NM712"}
    assert "cannot write image: target family 'loihi' differs from the network family 'xylo'" in messages
    assert "cannot write image: output population 'nope' is not a population of the network" in messages
    assert "cannot write image: network n_inputs = -1 is outside 0..1048576" in messages


def test_writer_rejects_values_it_cannot_read_back():
    import attrs

    from engine.netlist import Population

    contents = small_contents(placed=False)
    hidden = contents.network.populations[0]
    huge = Population(hidden.name, hidden.size, dict(hidden.params, bias=np.full(hidden.size, 2**64 - 1, dtype=np.uint64)))
    network = attrs.evolve(contents.network, populations=(huge, *contents.network.populations[1:]))
    bad = attrs.evolve(contents, network=network, preprocessing={"x": np.zeros(2, dtype=np.float32)},
                       metadata=attrs.evolve(contents.metadata, site="a\udc80b"))
    with pytest.raises(ImageError) as info:
        write_image(bad)
    assert [d.message for d in info.value.diagnostics] == sorted([
        "cannot write image: metadata.site 'a\\udc80b' is not valid Unicode text",
        "cannot write image: parameter hidden.bias holds a value beyond 2^63-1",
        "cannot write image: preprocessing 'x' must be an integer array, got float32",
    ])
