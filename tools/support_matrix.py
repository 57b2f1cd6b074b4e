"""The per-framework support matrix of docs/models.md, measured from the fixtures.

Every fixture in tests/data/frameworks/ (a .nir written by the framework's own exporter,
the framework's own run of it in a .npz, and the framework's manifest <framework>.json:
versions, and per fixture the model, its convention and dt, node types and features) is
read by nmspec and run on the fixture's input; the table says what came out:

- reading: `exact` when every population's spikes equal the framework's and its membrane
  agrees within float32 rounding, else how many spikes differ; a file the import refuses
  shows its code; a manifest's `lost` (what the exporter dropped) is quoted;
- xylo, loihi, lif: the network quantized for the family (calibrated on the fixture's
  input) and run by the integer kernel on the same input: `exact` when its readout spikes
  equal the framework's, `runs` with the readout spike counts (kernel / framework)
  otherwise (`one step early` where the readout has Spyx's latency and the chip spikes on
  the crossing, engine/resolve/latency.py: the kernel's steps 0..T-2 against the
  framework's 1..T-1), `membrane readout` for an LI readout read by its membrane (whether the class,
  the output whose membrane peaks highest, is the framework's, and the correlation r of
  the kernel's membrane with the framework's), or `refused` with the code and the first
  sentence of the reason.

    python tools/support_matrix.py            # print the section
    python tools/support_matrix.py --write    # rewrite it in docs/models.md
    python tools/support_matrix.py --check    # exit 1 when docs/models.md differs

tests/test_support_matrix.py fails when docs/models.md is not what this writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data" / "frameworks"
DOC = ROOT / "docs" / "models.md"
BEGIN = "<!-- support-matrix: written by tools/support_matrix.py --write; do not edit by hand -->"
END = "<!-- support-matrix end -->"
FAMILIES = ("xylo", "loihi", "lif")
# the membrane agrees "within float32 rounding": frameworks compute in float32, nmspec in float64
V_TOLERANCE = 1e-4


def _first_sentence(message: str) -> str:
    """The reason's first clause: up to its first '; ' or its parenthesised detail."""
    text = re.split(r"; | \((?:multi-spike|as )", message)[0]
    return text if len(text) <= 120 else text[:117] + "..."


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def read_fixture(entry: Mapping[str, Any], folder: Path) -> tuple[Any, Mapping[str, np.ndarray], str]:
    """The float network (or None), the framework's record, and the reading's verdict."""
    from engine.resolve.floatnet import simulate
    from engine.resolve.nir_import import ImportError_, read_nir

    with np.load(folder / entry["record"]) as data:
        record = {k: data[k] for k in data.files}
    try:
        net = read_nir(folder / entry["nir"], dt=float(entry["dt"]), convention=str(entry["convention"]))
    except ImportError_ as exc:
        d = exc.diagnostics[0]
        return None, record, f"refused {d.code}: {_first_sentence(d.message)}"
    run = simulate(net, record["input"], record=True)
    spikes_off = checked = 0
    v_off = 0.0
    for pop in net.populations:
        key = f"spikes:{pop.name}"
        if key not in record:
            continue
        checked += 1
        spikes_off += int(np.abs(run[pop.name] - record[key]).sum())
        if f"v:{pop.name}" in record:
            v_off = max(v_off, float(np.max(np.abs(run[f"v:{pop.name}"] - record[f"v:{pop.name}"]), initial=0.0)))
    if not checked:
        return net, record, "no recorded population matches"
    if spikes_off == 0 and v_off <= V_TOLERANCE:
        verdict = "exact"
    elif spikes_off == 0:
        verdict = f"spikes exact, membrane off by up to {v_off:.3g}"
    else:
        verdict = f"differs: {spikes_off} spikes"
    if entry.get("lost"):
        verdict += f" (lossy export: {entry['lost']})"
    return net, record, verdict


def deploy(net: Any, record: Mapping[str, np.ndarray], family: str) -> str:
    """What the family's kernel does with the network, against the framework's readout."""
    from engine.resolve.quantize import QuantizeError, quantize
    from engine.verify import kernel

    counts = np.rint(record["input"]).astype(np.int64)
    try:
        result = quantize(net, family, stimuli=counts[None].astype(np.float64))
    except QuantizeError as exc:
        d = exc.diagnostics[0]
        return f"refused {d.code}: {_first_sentence(d.message)}"
    network = result.network
    ran = kernel.run(network, counts)
    if network.readout == "membrane":
        return _membrane_verdict(ran.states[f"{network.output}.v"], record.get(f"v:{net.output}"))
    ours = ran.spikes[network.output]
    theirs = record.get(f"spikes:{net.output}")
    if theirs is None:
        return f"runs ({int(ours.sum())} readout spikes)"
    early = ""
    if family != "loihi" and net.population(net.output).spike_delay:
        # the readout spikes on its crossing, one step before the framework (engine/resolve/latency.py):
        # the kernel's steps 0..T-2 against the framework's 1..T-1
        ours, theirs, early = ours[:-1], theirs[1:], " one step early"
    if ours.shape == theirs.shape and np.array_equal(ours, theirs):
        return "exact, one step early" if early else "exact"
    return f"runs{early}: {int(ours.sum())} / {int(theirs.sum())} readout spikes"


def _membrane_verdict(ours: np.ndarray, theirs: np.ndarray | None) -> str:
    """A membrane readout against the framework's recorded membrane: whether the class (the
    output whose membrane peaks highest) is the framework's, and the correlation of the two
    membranes over every step and output (the integer one is in its own units)."""
    from engine.netlist import membrane_scores

    if theirs is None or theirs.shape != ours.shape:
        return "membrane readout"
    same = int(np.argmax(membrane_scores(ours))) == int(np.argmax(membrane_scores(theirs)))
    r = float(np.corrcoef(ours.ravel().astype(np.float64), theirs.ravel())[0, 1])
    return f"membrane readout: {'same class' if same else 'another class'}, r = {r:.3f}"


def manifests(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def section(folder: Path = DATA) -> str:
    lines = [BEGIN, ""]
    for manifest in manifests(folder):
        versions = ", ".join(f"{name} {version}" for name, version in sorted(manifest["versions"].items()))
        lines += [f"**{manifest['framework']}** ({versions})", "",
                  "| fixture | convention, dt | node types | features | reading | xylo | loihi | lif |",
                  "|---|---|---|---|---|---|---|---|"]
        for entry in manifest["fixtures"]:
            net, record, reading = read_fixture(entry, folder)
            targets = [deploy(net, record, family) if net is not None else "-" for family in FAMILIES]
            cells = [entry["model"], f"{entry['convention']}, {float(entry['dt']) * 1e3:g} ms",
                     ", ".join(entry.get("node_types", ())), ", ".join(entry.get("features", ())), reading, *targets]
            lines.append("| " + " | ".join(_cell(str(c)) for c in cells) + " |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def with_section(doc: str, body: str) -> str:
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + body + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n## Support matrix\n\n" + body + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the section in docs/models.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/models.md differs")
    parser.add_argument("--data", type=Path, default=DATA, help="the fixtures' folder")
    args = parser.parse_args(argv)
    body = section(args.data)
    doc = DOC.read_text()
    wanted = with_section(doc, body)
    if args.write:
        DOC.write_text(wanted)
    elif args.check:
        if wanted != doc:
            sys.stderr.write("docs/models.md's support matrix is stale: run python tools/support_matrix.py --write\n")
            return 1
    else:
        sys.stdout.write(body + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
