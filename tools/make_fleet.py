"""Write a synthetic fleet: a spec repository of many sites built from a few bases.

    python tools/make_fleet.py OUT [--sites 1000] [--seed 7] [--safety-class none]

OUT becomes a spec repository (nmspec.toml at its root) holding the example models and
traces, two asset bases taken from the bundled examples (a refrigeration compressor on a
Xylo IMU, an acoustic leak detector on a Xylo Audio 2), one regional overlay per base and
mains frequency (50 Hz, 60 Hz), and one site spec per site under sites/<plant>/, each
extending a regional overlay and overriding what differs between sites: the name, the notch
harmonics, the encoder threshold, the cell and its service life, the radio's spreading
factor. Every site shares its base's model and stimuli. The same arguments give the same
bytes. `--safety-class none` writes bases whose sites build without a signing key and
without verification (quick trials and tests); by default the bases keep their examples'
safety class.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "specs"

# base name -> (example spec it is taken from, asset name in site names, share of the fleet)
BASES = {
    "compressor": ("base/compressor.yaml", "compressor", 0.8),
    "air-header": ("examples/acoustic-xylo.yaml", "air-header", 0.2),
}
REGIONS = {"eu": "50Hz", "us": "60Hz"}
THRESHOLDS = (0.05, 0.0625, 0.075)
# (cell, service life, figures the site supplies): the catalog holds no verified capacity for
# the ER14505; 2.6 Ah is the Saft LS 14500 catalogue value, as in specs/sites/.
CELLS = (("er14505", "10y", {"capacity": "2.6Ah"}), ("er34615", "15y", None))


def _dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def _base(example: Path, safety_class: str | None) -> dict:
    """An example spec as a base: no site name, paths relative to base/, notch following
    environment.mains (so a regional overlay sets the frequency once)."""
    data = yaml.safe_load(example.read_text())
    data["kind"] = "SiteBase"
    data.pop("extends", None)
    data["metadata"].pop("site", None)
    data["model"]["source"] = "../models/" + Path(data["model"]["source"]).name
    data["verify"]["stimuli"] = ["../traces/" + Path(s).name for s in data["verify"]["stimuli"]]
    for stage in data["preprocessing"]:
        if "notch" in stage:
            stage["notch"].pop("freq", None)
    if safety_class is not None:
        data["safety"] = {"class": safety_class}
    return data


def _stage_id(stage: dict) -> str:
    return stage.get("id") or next(k for k in stage if k != "id")


def _site(base: dict, region: str, name: str, rng: random.Random) -> dict:
    site: dict = {"apiVersion": "nmspec/v1", "kind": "SiteDeployment",
                  "extends": f"../../regions/{region}/{name}.yaml", "metadata": {"site": None}}
    stages = []
    for stage in base["preprocessing"]:
        if "notch" in stage:
            harmonics = rng.choice((1, 2, 3))
            # The bundled compressor model was trained on 50 Hz recordings: at 60 Hz, notching
            # the 120 and 180 Hz harmonics too takes some encoder thresholds below the 0.99
            # agreement sil2 asks for, so 60 Hz sites notch the fundamental only.
            stages.append({"id": _stage_id(stage), "notch": {"harmonics": harmonics if region == "eu" else 1}})
    encoder = next(s for s in base["preprocessing"] if "encode" in s)
    stages.append({"id": _stage_id(encoder), "encode": {"threshold": rng.choice(THRESHOLDS)}})
    site["preprocessing"] = stages
    cell, lifetime, figures = rng.choice(CELLS)
    battery = {"cell": cell, "lifetime": lifetime} | ({"overrides": dict(figures)} if figures else {})
    site["power"] = {"battery": battery, "radio": {"spreading_factor": rng.choice((7, 8, 9))}}
    return site


def make_fleet(out: Path, sites: int, seed: int = 7, safety_class: str | None = None) -> list[Path]:
    """Write the fleet under `out` (which must not hold another fleet); the site specs, sorted."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nmspec.toml").write_text("# spec repository root\n")
    for folder in ("models", "traces"):
        (out / folder).mkdir(exist_ok=True)
        for path in sorted((EXAMPLES / "examples" / folder).iterdir()):
            shutil.copyfile(path, out / folder / path.name)
    bases = {}
    for name, (example, _, _) in BASES.items():
        bases[name] = _base(EXAMPLES / example, safety_class)
        (out / "base").mkdir(exist_ok=True)
        (out / "base" / f"{name}.yaml").write_text(_dump(bases[name]))
        for region, mains in REGIONS.items():
            overlay = {"apiVersion": "nmspec/v1", "kind": "SiteBase", "extends": f"../../base/{name}.yaml",
                       "environment": {"mains": mains}}
            (out / "regions" / region).mkdir(parents=True, exist_ok=True)
            (out / "regions" / region / f"{name}.yaml").write_text(_dump(overlay))
    rng = random.Random(seed)
    names, weights = list(BASES), [share for _, _, share in BASES.values()]
    written, counters = [], {}
    for i in range(sites):
        plant = f"plant-{i // 10:03d}"
        name = rng.choices(names, weights)[0]
        region = rng.choice(sorted(REGIONS))
        counters[(plant, name)] = counters.get((plant, name), 0) + 1
        asset = f"{BASES[name][1]}-{counters[(plant, name)]}"
        site = _site(bases[name], region, name, rng)
        site["metadata"]["site"] = f"{plant}/{asset}"
        path = out / "sites" / plant / f"{asset}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump(site))
        written.append(path)
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic fleet of site specs (a spec repository).")
    parser.add_argument("out", type=Path)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--safety-class", metavar="CLASS", help="safety class of every base (default: the examples')")
    args = parser.parse_args(argv)
    if (args.out / "sites").exists():
        parser.error(f"{args.out} already holds a fleet")
    written = make_fleet(args.out, args.sites, args.seed, args.safety_class)
    print(f"{len(written)} sites under {args.out / 'sites'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
