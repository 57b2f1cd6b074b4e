"""The firmware on an emulated Cortex-M4, against the power model's estimate measured in
the same run: the signal chain's instructions per second of sensor data (QEMU mps2-an386,
-icount shift=0, CMSDK timer ticks x 40) beside engine.resolve.power.dsp_cycles_per_window
for one second, the network's instructions per model step, flash and RAM of fw.elf."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.catalog import load_catalog
from engine.codegen.measure import measure_cortex_m4
from engine.diagnostics import StageError
from engine.pipeline import BuildOptions, build_site, resolve_site
from engine.resolve.power import dsp_cycles_per_window
from engine.spec import validate_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("compressor", "pump-loihi", "acoustic-xylo")


def measure(name: str, catalog) -> dict:
    path = ROOT / "specs" / "examples" / f"{name}.yaml"
    result = build_site(path, catalog, BuildOptions(verify=False, preview=True))
    doc, _ = validate_spec(path, catalog)
    resolved = resolve_site(doc, catalog)
    chain = resolved.chain
    samples = resolved.stimuli.samples[0][: int(chain.sample_rate)]  # one second of the first stimulus
    measured = measure_cortex_m4(result.files, samples, chain.sample_rate)
    model = dsp_cycles_per_window(chain, 1.0)
    return {"site": result.site, "chain_instructions_per_s": measured["chain_instructions_per_s"],
            "power_model_cycles_per_s": round(model),
            "measured_over_model": round(measured["chain_instructions_per_s"] / model, 3),
            "network_instructions_per_step": measured["network_instructions_per_step"],
            "flash_bytes": measured["flash_bytes"], "ram_bytes": measured["ram_bytes"]}


def main() -> None:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        print("skipped: arm-none-eabi-gcc and qemu-system-arm are needed (make system-deps)")
        return
    catalog = load_catalog()
    rows = {}
    for name in EXAMPLES:
        try:
            rows[name] = measure(name, catalog)
        except StageError as exc:  # a site that does not build is reported, the others still run
            rows[name] = {"error": str(exc)}
    print(f"{'example':15} {'chain instr/s':>14} {'model cyc/s':>12} {'ratio':>6} {'net instr/step':>15} "
          f"{'flash B':>8} {'RAM B':>7}")
    for name, row in rows.items():
        if "error" in row:
            print(f"{name:15} error: {row['error']}")
            continue
        print(f"{name:15} {row['chain_instructions_per_s']:>14,} {row['power_model_cycles_per_s']:>12,} "
              f"{row['measured_over_model']:>6.2f} {row['network_instructions_per_step']:>15,} "
              f"{row['flash_bytes']:>8,} {row['ram_bytes']:>7,}")
    out = ROOT / "bench" / "results" / "firmware.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
