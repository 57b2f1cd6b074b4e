"""Flash, RAM and instruction counts of a bundle's firmware on a Cortex-M4.

Compiles firmware/ with its own Makefile (`make arm`), reads `arm-none-eabi-size`, and, when
qemu-system-arm is present, runs fw.elf under `-icount shift=0` on sensor samples: QEMU then
advances virtual time by 1 ns per instruction and the board's 25 MHz CMSDK timer, which the
program reads around the chain and the network, ticks once per 40 instructions.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.diagnostics import Diagnostic, StageError

INSTRUCTIONS_PER_TICK = 40  # 1 ns per instruction (icount shift 0) at a 25 MHz timer clock
QEMU_ARGS = ("-M", "mps2-an386", "-nographic", "-icount", "shift=0")


def _fail(message: str, hint: str = "make system-deps installs the Cortex-M4 toolchain and QEMU") -> StageError:
    return StageError([Diagnostic("error", "NM901", f"firmware size: {message}", hint=hint)])


def write_firmware(files: Mapping[str, bytes], folder: Path) -> Path:
    for name, data in files.items():
        if name.startswith("firmware/"):
            target = folder / name[len("firmware/"):]
            target.write_bytes(data)
    return folder


EMULATED_FLASH_SYMBOL = "arm_flash"  # platform_arm.c: the model slots the emulated board keeps in RAM


def symbol_size(elf: Path, name: str) -> int:
    done = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[3] == name:
            return int(fields[1], 16)
    return 0


def arm_size(elf: Path) -> dict[str, int]:
    """arm-none-eabi-size of fw.elf; RAM without the emulated board's flash array, which a
    real board has in flash."""
    done = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise _fail(done.stderr.strip() or "arm-none-eabi-size failed")
    text, data, bss = (int(v) for v in done.stdout.splitlines()[1].split()[:3])
    slots = symbol_size(elf, EMULATED_FLASH_SYMBOL)
    return {"text": text, "data": data, "bss": bss, "flash_bytes": text + data, "ram_bytes": data + bss - slots,
            "model_slots_bytes": slots}


def run_qemu(folder: Path, *args: str, timeout: float = 300) -> str:
    command = ["qemu-system-arm", *QEMU_ARGS, "-semihosting-config",
               "enable=on,target=native," + ",".join(f"arg={a}" for a in ("fw.elf", *args)), "-kernel", "fw.elf"]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise _fail(f"fw.elf exited with {done.returncode} under QEMU: {done.stderr.strip()[:200]}")
    return done.stdout


def timing(output: str) -> dict[str, int]:
    last = [line for line in output.splitlines() if line.startswith("T ")][-1]
    return {k: int(v) for k, v in (field.split("=") for field in last.split()[1:])}


def measure_cortex_m4(files: Mapping[str, bytes], samples: np.ndarray | None, sample_rate: float) -> dict[str, Any]:
    """Sizes of fw.elf, and with samples (n, axes int16) the chain's instructions per second
    of sensor data and the network's per model step."""
    if shutil.which("arm-none-eabi-gcc") is None:
        raise _fail("arm-none-eabi-gcc not found")
    with tempfile.TemporaryDirectory(prefix="nmspec-fw-") as tmp:
        folder = write_firmware(files, Path(tmp))
        done = subprocess.run(["make", "-s", "arm"], cwd=folder, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise _fail(f"make arm failed: {done.stderr.strip()[-400:]}", hint="the generated C does not compile")
        out = {"toolchain": subprocess.run(["arm-none-eabi-gcc", "-dumpversion"], capture_output=True, text=True,
                                           check=False).stdout.strip(),
               **arm_size(folder / "fw.elf")}
        if samples is None or shutil.which("qemu-system-arm") is None or "firmware/preprocess.c" not in files:
            return out
        (folder / "samples.bin").write_bytes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        output = run_qemu(folder, "samples.bin", "chain")
        ticks = timing(output)
        seconds = samples.shape[0] / sample_rate
        steps = sum(1 for line in output.splitlines() if line.startswith("C "))
        out.update({
            "measured_on_samples": int(samples.shape[0]),
            "chain_instructions_per_s": round(ticks["chain_ticks"] * INSTRUCTIONS_PER_TICK / seconds),
            "network_instructions_per_step": round(ticks["net_ticks"] * INSTRUCTIONS_PER_TICK / max(steps, 1)),
            "method": "qemu-system-arm -icount shift=0, CMSDK timer ticks x 40",
        })
        return out
