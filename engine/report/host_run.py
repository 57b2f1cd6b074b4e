"""The bundle's firmware compiled for the host and fed raw samples: the C signal chain and
the C CPU fallback against the Python fixed-point chain and the kernel, window by window.

The firmware is built with its own Makefile (`make host`: gcc with AddressSanitizer and
UBSan) in a scratch folder, never in the bundle, and run as `fw_host chain SAMPLES`, which
prints the chain's spike counts ("C" rows) and every population's spikes ("S" rows) per
step. A window is bit exact when both equal what Python computes, step for step.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import numpy as np

from engine.verify import kernel

if TYPE_CHECKING:
    from engine.dsp.chain import Chain
    from engine.netlist import QuantNetwork


@attrs.frozen
class HostRun:
    windows: int
    steps: int
    chain_exact: int  # windows whose C chain counts equal the Python chain's
    spikes_exact: int  # windows whose C fallback spikes equal the kernel's, every population
    classes: tuple[int, ...]  # class per window from the C fallback's readout
    problem: str = ""  # why nothing could be run (no compiler, build failed); empty when it ran

    @property
    def bit_exact(self) -> bool:
        return not self.problem and self.windows > 0 and self.chain_exact == self.spikes_exact == self.windows


def _rows(text: str) -> dict[str, dict[int, list[list[int]]]]:
    """'KIND step pop values...' lines -> KIND -> pop -> per step values."""
    out: dict[str, dict[int, list[list[int]]]] = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind in ("C", "S"):
            out.setdefault(kind, {}).setdefault(int(fields[1]), []).append([int(v) for v in fields[2:]])
    return out


def _failed(windows: int, why: str) -> HostRun:
    return HostRun(windows, 0, 0, 0, (), why)


def run_on_host(firmware: Mapping[str, bytes], samples: np.ndarray, chain: Chain, network: QuantNetwork, *,
                timeout: float = 120) -> HostRun:
    """firmware: the bundle's firmware/ files by name inside firmware/; samples (windows, n, axes) int16."""
    if shutil.which("make") is None or shutil.which("gcc") is None:
        return _failed(len(samples), "make or gcc not found")
    if "host_main.c" not in firmware:
        return _failed(len(samples), "the bundle has no host program (firmware/host_main.c)")
    with tempfile.TemporaryDirectory(prefix="nmspec-host-") as scratch:
        folder = Path(scratch)
        for name, data in sorted(firmware.items()):
            (folder / name).write_bytes(data)
        from engine.codegen.monocypher import make_arguments

        crypto = make_arguments(firmware.get("Makefile", b""))
        built = subprocess.run(["make", "-s", "host", *crypto], cwd=folder, capture_output=True, text=True, timeout=timeout,
                               check=False)
        if built.returncode != 0:
            lines = (built.stderr or built.stdout).strip().splitlines()
            return _failed(len(samples), f"make host failed: {lines[0] if lines else built.returncode}")
        chain_exact = spikes_exact = steps = 0
        classes = []
        path = folder / "samples.bin"
        all_counts = np.asarray(chain.run(samples), dtype=np.int64)  # one batch: much faster than per window
        for window, counts in zip(samples, all_counts, strict=True):
            path.write_bytes(np.ascontiguousarray(window, dtype="<i2").tobytes())
            done = subprocess.run([str(folder / "fw_host"), "chain", str(path)], capture_output=True, text=True,
                                  timeout=timeout, check=False)
            if done.returncode != 0:
                return _failed(len(samples), f"fw_host chain exited {done.returncode}: {done.stderr.strip()[:200]}")
            rows = _rows(done.stdout)
            c_counts = np.array(rows.get("C", {}).get(0, []), dtype=np.int64).reshape(-1, counts.shape[1])
            chain_exact += int(np.array_equal(c_counts, counts))
            reference = kernel.run(network, counts)
            same = True
            for index, pop in enumerate(network.populations):
                c_spikes = np.array(rows.get("S", {}).get(index, []), dtype=np.int64)
                same &= c_spikes.shape == reference.spikes[pop.name].shape and np.array_equal(
                    c_spikes, reference.spikes[pop.name])
            spikes_exact += int(same)
            out_index = [p.name for p in network.populations].index(network.output)
            readout = np.array(rows.get("S", {}).get(out_index, [[0] * network.population(network.output).size]))
            classes.append(int(np.argmax(readout.sum(axis=0))))
            steps += counts.shape[0]
    return HostRun(len(samples), steps, chain_exact, spikes_exact, tuple(classes))
