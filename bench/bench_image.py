"""Image write/read speed and size against a plain baseline measured in the same run: the
same arrays saved with numpy.savez and loaded back (no checks, no per-core split, no CRC)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np

from engine.image import ImageContents, Metadata, Target, read_image, write_image
from engine.netlist import (
    FAMILY_PARAMS,
    INPUT,
    Placement,
    Population,
    Projection,
    QuantNetwork,
    Weights,
    frozen_array,
)


def network(sizes: tuple[int, ...], fan_out: int, n_cores: int, seed: int = 0) -> QuantNetwork:
    rng = np.random.default_rng(seed)
    pops, projs, previous = [], [], INPUT
    for k, size in enumerate(sizes[1:], start=1):
        name = f"p{k}"
        pops.append(Population(name, size, {p: frozen_array(rng.integers(0, 4096, size), np.int32)
                                            for p in FAMILY_PARAMS["loihi"]}))
        n_src, per_row = sizes[k - 1], min(fan_out, size)
        cols = np.sort(rng.random((n_src, size)).argsort(axis=1)[:, :per_row], axis=1) if size <= 4096 else \
            np.sort(np.stack([rng.choice(size, per_row, replace=False) for _ in range(n_src)]), axis=1)
        weights = Weights.from_csr(n_src, size, np.arange(n_src + 1) * per_row, cols.ravel(),
                                   rng.integers(-128, 128, cols.size) * 2)
        projs.append(Projection(previous, name, weights, 0, 1))
        previous = name
    width = int(np.ceil(np.sqrt(n_cores)))
    core_xy = np.stack([np.arange(n_cores) % width, np.arange(n_cores) // width], axis=1)
    cores = {p.name: frozen_array(np.arange(p.size) * n_cores // max(p.size, 1), np.int32) for p in pops}
    placement = Placement(width, width, frozen_array(core_xy, np.int32), cores, ())
    return QuantNetwork("loihi", 1e-3, sizes[0], tuple(pops), tuple(projs), previous, placement)


def _best(fn, *args, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def _baseline_arrays(net: QuantNetwork) -> dict[str, np.ndarray]:
    arrays = {}
    for pop in net.populations:
        arrays.update({f"{pop.name}.{k}": v for k, v in pop.params.items()})
        arrays[f"{pop.name}.core"] = net.placement.neuron_core[pop.name]
    for i, proj in enumerate(net.projections):
        arrays.update({f"w{i}.indptr": proj.weights.indptr, f"w{i}.indices": proj.weights.indices,
                       f"w{i}.values": proj.weights.values})
    return arrays


def _npz_write(arrays: dict[str, np.ndarray]) -> None:
    np.savez(io.BytesIO(), **arrays)


def _npz_read(npz: bytes) -> None:
    with np.load(io.BytesIO(npz)) as loaded:
        {k: loaded[k] for k in loaded.files}


def main() -> None:
    cases = (("small", (16, 64, 8), 16, 1), ("medium", (128, 2000, 2000, 10), 64, 16),
             ("large", (256, 20000, 20000, 10), 200, 64))
    rows = []
    print(f"{'case':<8} {'neurons':>8} {'synapses':>9} {'image B':>10} {'npz B':>10} {'write s':>8} "
          f"{'x npz':>6} {'read s':>8} {'x npz':>6}")
    for name, sizes, fan_out, n_cores in cases:
        net = network(sizes, fan_out, n_cores)
        contents = ImageContents(Metadata("bench", "0", "0", name, ()), Target("bench", "loihi"), net)
        data = write_image(contents)
        arrays = _baseline_arrays(net)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        npz = buffer.getvalue()
        t_write = _best(write_image, contents)
        t_read = _best(read_image, data)
        t_npz_write = _best(_npz_write, arrays)
        t_npz_read = _best(_npz_read, npz)
        row = {"case": name, "neurons": net.n_neurons, "synapses": net.n_synapses, "image_bytes": len(data),
               "npz_bytes": len(npz), "write_s": round(t_write, 4), "read_s": round(t_read, 4),
               "write_vs_npz": round(t_write / t_npz_write, 2), "read_vs_npz": round(t_read / t_npz_read, 2)}
        rows.append(row)
        print(f"{name:<8} {row['neurons']:>8} {row['synapses']:>9} {row['image_bytes']:>10} {row['npz_bytes']:>10} "
              f"{row['write_s']:>8.3f} {row['write_vs_npz']:>6.1f} {row['read_s']:>8.3f} {row['read_vs_npz']:>6.1f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "image.json").write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
