"""Random image contents for the image tests: every family, placed or not, sparse and dense
weights, explicit zero weights, 64-bit routing keys, preprocessing arrays of every int type."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from engine.image import ImageContents, IOMap, Metadata, RuntimePolicy, Target
from engine.netlist import (
    FAMILY_PARAMS,
    INPUT,
    Placement,
    Population,
    Projection,
    QuantNetwork,
    RouteEntry,
    Weights,
    frozen_array,
)

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def random_weights(rng, n_src: int, n_dst: int) -> Weights:
    density = rng.choice([0.0, 0.2, 0.7, 1.0])
    mask = rng.random((n_src, n_dst)) < density
    lo, hi = [(-128, 128), (-2**15, 2**15), (-2**31, 2**31), (0, 256)][rng.integers(4)]
    values = rng.integers(lo, hi, size=(n_src, n_dst), dtype=np.int64)
    if rng.random() < 0.3:  # a stored zero weight must survive the round trip as a synapse
        values[rng.random((n_src, n_dst)) < 0.3] = 0
    rows, cols = np.nonzero(mask)
    counts = np.bincount(rows, minlength=n_src)
    return Weights.from_csr(n_src, n_dst, np.concatenate([[0], np.cumsum(counts)]), cols, values[rows, cols])


def random_params(rng, family: str, size: int, is_output: bool) -> dict[str, np.ndarray]:
    names = [n for n in FAMILY_PARAMS[family] if not (family == "xylo" and is_output and n == "alias")]
    params = {}
    for name in names:
        bound = [16, 2**12, 2**31, 2**40][rng.integers(4)]
        if family == "xylo" and name == "dash_syn":
            shape = (size, 1 if is_output else int(rng.integers(1, 3)))
        else:
            shape = (size,)
        params[name] = frozen_array(rng.integers(-bound, bound, size=shape, dtype=np.int64), np.int64)
    return params


def random_network(rng, family: str, *, placed: bool) -> QuantNetwork:
    n_pops = 2 if family == "xylo" else int(rng.integers(1, 4))
    names = ["hidden", "output"] if family == "xylo" else [f"pop{i}" for i in range(n_pops)]
    sizes = [int(rng.integers(0 if i < n_pops - 1 else 1, 7)) for i in range(n_pops)]
    output = names[-1]
    pops = tuple(Population(n, s, random_params(rng, family, s, n == output)) for n, s in zip(names, sizes))
    n_inputs = int(rng.integers(0, 6))
    size_of = dict(zip(names, sizes)) | {INPUT: n_inputs}
    projections = []
    for _ in range(int(rng.integers(0, 5))):
        src = [INPUT, *names][rng.integers(len(names) + 1)]
        dst = names[rng.integers(len(names))]
        projections.append(Projection(src, dst, random_weights(rng, size_of[src], size_of[dst]),
                                      synapse=int(rng.integers(0, 2)), shift=int(rng.integers(-8, 9))))
    placement = None
    if placed:
        n_cores = int(rng.integers(1, 5))
        width = int(rng.integers(1, 4))
        core_xy = np.stack([np.arange(n_cores) % width, np.arange(n_cores) // width], axis=1)
        routes = tuple(RouteEntry(int(rng.integers(0, n_cores)), int(rng.integers(0, 2**63)) * 2 + int(rng.integers(2)),
                                  int(rng.integers(0, 2**64, dtype=np.uint64)), int(rng.integers(0, 32)))
                       for _ in range(int(rng.integers(0, 4))))
        placement = Placement(width, (n_cores + width - 1) // width, frozen_array(core_xy, np.int32),
                              {n: frozen_array(rng.integers(0, n_cores, size=s), np.int32) for n, s in zip(names, sizes)},
                              routes)
    dt = float(rng.choice([1e-3, 0.5e-3, 1 / 1600, 0.01]))
    return QuantNetwork(family, dt, n_inputs, pops, tuple(projections), output, placement)


_PRE_DTYPES = ("<i1", "<u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8")


def random_preprocessing(rng) -> dict[str, np.ndarray]:
    out = {}
    for i in range(int(rng.integers(0, 4))):
        dtype = np.dtype(_PRE_DTYPES[rng.integers(len(_PRE_DTYPES))])
        info = np.iinfo(dtype)
        shape = tuple(int(d) for d in rng.integers(0, 4, size=int(rng.integers(0, 4))))
        out[f"{i}_stage"] = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return out


@st.composite
def image_contents(draw, family: str | None = None) -> ImageContents:
    family = family or draw(st.sampled_from(["xylo", "loihi", "lif"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    net = random_network(rng, family, placed=draw(st.booleans()))
    labels = tuple(draw(st.lists(TEXT, max_size=4)))
    n_classes = draw(st.integers(0, 4))
    policy = RuntimePolicy(
        learning_locked=draw(st.booleans()),
        class_expected_ppm=tuple(int(v) for v in rng.integers(0, 10**6, size=n_classes)),
        class_tolerance_ppm=tuple(int(v) for v in rng.integers(0, 10**6, size=n_classes)),
        spike_rate_mhz=draw(st.integers(0, 2**32 - 1)), spike_rate_tolerance_mhz=draw(st.integers(0, 10**6)),
        dead_neuron_window_s=draw(st.integers(0, 10**7)), sanity_window_s=draw(st.integers(0, 10**6)))
    return ImageContents(
        metadata=Metadata(draw(TEXT), draw(TEXT), draw(TEXT), draw(TEXT), labels),
        target=Target(draw(TEXT), family), network=net,
        io=IOMap(tuple(draw(st.lists(TEXT, max_size=3))), labels),
        policy=policy, preprocessing=random_preprocessing(rng))


def small_contents(*, placed: bool = True, seed: int = 2, family: str = "xylo") -> ImageContents:
    rng = np.random.default_rng(seed)
    net = random_network(rng, family, placed=placed)
    return ImageContents(
        metadata=Metadata("plant-7/compressor-3", "sha256:0f1e", "0.1.0", "compressor", ("normal", "bearing")),
        target=Target("xylo-imu" if family == "xylo" else "test-chip", family), network=net,
        io=IOMap(("x", "y", "z"), ("normal", "bearing")),
        policy=RuntimePolicy(True, (950000, 50000), (30000, 30000), 1500, 500, 3600, 86400),
        preprocessing={"dc_block": np.array([32604, -32768], dtype="<i2"), "notch_sos": np.arange(12, dtype="<i4").reshape(2, 6)})
