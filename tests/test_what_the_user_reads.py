"""What the commands print adds up and sends the user the right way: the power table, the
hints of resolve and verification, paths in a copied folder and from another folder, the
graph, and numbers in engineering units."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from spec_cases import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "nmspec.toml").write_text("")
    return root


def variant(repo: Path, name: str, *replacements: tuple[str, str], base: str = "examples/compressor.yaml") -> str:
    text = (repo / "specs" / base).read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = repo / "specs" / Path(base).parent / name
    path.write_text(text)
    return str(path.relative_to(repo))


def test_the_power_table_adds_up_in_both_units(repo):
    code, out, err = run_cli(["fit", "specs/examples/compressor.yaml"], repo)
    assert code == 0, err
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("power on er14505"))
    assert lines[start] == "power on er14505, every current drawn at its nominal 3.6 V (uW = uA x 3.6 V):"
    rows = {}
    for line in lines[start + 2:]:
        if line.split()[0] == "total":
            break
        name, *_, ua, uw, share = line.split()
        rows[name] = (float(ua), float(uw), share)
    total_ua, total_uw = (float(v) for v in lines[start + 2 + len(rows)].split()[1:3])
    assert set(rows) == {"sensor", "mcu", "chip", "radio", "self-discharge"}
    for ua, uw, _ in rows.values():
        assert uw == pytest.approx(ua * 3.6, abs=0.002)  # each row: uW = uA x V
    assert sum(ua for ua, _, _ in rows.values()) == pytest.approx(total_ua, abs=0.003)
    assert total_uw == pytest.approx(total_ua * 3.6, abs=0.002)
    consumers = total_ua - rows["self-discharge"][0]
    assert lines[start + 3 + len(rows)] == (f"  (consumers {consumers:.3f} uA = {consumers * 3.6:.1f} uW, plus the cell's "
                                            f"self-discharge {rows['self-discharge'][0]:.3f} uA)")
    budget = lines[start + 4 + len(rows)]
    assert budget.startswith("  budget 61 uW for inference: the chip and the MCU running the signal chain (not the "
                             "sensor, radio or self-discharge): ")
    life = lines[start + 5 + len(rows)]
    years = float(life.split()[2])
    assert life.endswith(f"2.6 Ah usable / {total_ua:.3f} uA")
    assert years == pytest.approx(2.6 / (total_ua * 1e-6) / 8766, abs=0.05)  # hours per year 365.25 x 24


def test_an_exceeded_budget_prints_the_table_and_a_hint_that_passes(repo):
    spec = variant(repo, "budget-30.yaml", ("budget: 61uW", "budget: 30uW"))
    code, out, err = run_cli(["fit", spec], repo)
    assert code == 1
    first, hint = err.splitlines()[:2]
    match = re.fullmatch(r".*error\[NM403\]: power\.budget: inference needs ([\d.]+) uW \(chip ([\d.]+) uW \+ MCU signal "
                         r"chain ([\d.]+) uW\), more than the 30 uW budget", first)
    assert match, first
    total, chip, mcu = (float(v) for v in match.groups())
    assert chip + mcu == pytest.approx(total, abs=0.11)
    needed = re.search(r"raise power\.budget to (\d+)uW", hint).group(1)
    assert hint.startswith("  hint: the power table below shows each consumer; lengthen runtime.schedule.interval")
    assert "power on er14505" in out and "  budget 30 uW for inference" in out and ", OVER" in out
    # following the hint's last option gives a spec that fits
    spec = variant(repo, "budget-raised.yaml", ("budget: 61uW", f"budget: {needed}uW"))
    code, out, err = run_cli(["fit", spec], repo)
    assert code == 0, err


def test_a_missing_figure_hint_gives_a_datasheet_order_of_magnitude(repo):
    """Without the spec's estimate, the Xylo IMU's sleep power is unknown; the hint's example
    is a published chip's figure of the same kind, and supplying it resolves the power."""
    spec = variant(repo, "no-sleep-figure.yaml", ("    sleep_power: 2uW\n", ""))
    code, _, err = run_cli(["fit", spec], repo)
    assert code == 1
    lines = err.splitlines()
    index = next(i for i, line in enumerate(lines) if "error[NM402]" in line)
    assert lines[index].endswith("error[NM402]: power: chip xylo-imu: figure 'sleep_power' is not verified in any "
                                 "source (" + lines[index].split("source (", 1)[1])
    example = re.fullmatch(r"  hint: supply it in the spec \(target\.overrides: \{sleep_power: (\S+)\}\) \(the ([\w.-]+)'s "
                           r"datasheet figure; use the xylo-imu's own\) or in a catalog file of your repository, with "
                           r"its source", lines[index + 1])
    assert example, lines[index + 1]
    from engine.catalog import builtin_catalog

    assert builtin_catalog().part("chips", example.group(2)).figure("sleep_power").describe() == example.group(1)
    (repo / spec).write_text((repo / spec).read_text().replace("    wake_energy: 5uJ",
                                                               f"    wake_energy: 5uJ\n    sleep_power: {example.group(1)}"))
    code, _, err = run_cli(["fit", spec], repo)
    assert "NM402" not in err


def test_a_mixed_signal_target_hint_does_not_offer_a_class_that_refuses_it_too(repo):
    spec = variant(repo, "analog.yaml", ("chip: xylo-imu", "chip: innatera-t1"))
    code, _out, err = run_cli(["fit", spec], repo)
    assert code == 1
    assert ("  hint: choose a digital target (`nmspec fit SPEC` ranks them; `nmspec targets` lists each target's "
            "implementation); every class from sil1 up refuses a non-digital target, so keeping it takes "
            "safety.class: none") in err.splitlines()
    for lower in ("sil1",):
        spec = variant(repo, f"analog-{lower}.yaml", ("chip: xylo-imu", "chip: innatera-t1"), ("class: sil2", f"class: {lower}"))
        assert "NM501" in run_cli(["fit", spec], repo)[2]


def test_fit_does_not_tell_the_user_to_run_fit(repo):
    """A chip made too small by an override: inside `fit` the hint points at the ranking
    below; elsewhere it names `nmspec fit`."""
    spec = variant(repo, "tiny-chip.yaml", ("    sleep_power: 2uW", "    sleep_power: 2uW\n    hidden_neurons: 8"))
    code, out, err = run_cli(["fit", spec], repo)
    assert code == 1
    assert err.splitlines()[1:2] == [("  hint: the ranking below lists every catalog target for this spec; choose one "
                                     "whose verdict is fits")]
    assert "run `nmspec fit`" not in err and "targets for this spec, best first:" in out
    code, out, err = run_cli(["build", spec, "--out", "out-tiny", "--no-verify", "--no-cache"], repo)
    assert code == 1
    assert err.splitlines()[1] == ("  hint: `nmspec fit SPEC` ranks every catalog target for this spec; choose one whose "
                                   "verdict is fits")


def test_a_copied_specs_folder_says_the_root_is_missing_and_the_hint_fixes_it(tmp_path):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    code, _, err = run_cli(["validate", "specs/"], tmp_path)
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == ("specs/base/compressor.yaml:26:11: error[NM211]: model.source: '../examples/models/compressor.nir' "
                        "is outside the spec repository (specs/base)")
    assert lines[1] == ("  hint: no folder at or above the spec holds .git or nmspec.toml, so the spec repository is "
                        "taken to be the spec's own folder specs/base; create an empty nmspec.toml in specs (the folder "
                        "that holds the specs and the files they name), or run git init there")
    (tmp_path / "specs" / "nmspec.toml").write_text("")
    assert run_cli(["validate", "specs/"], tmp_path)[0] == 0


def test_verify_finds_a_bundles_spec_from_another_folder(repo, tmp_path):
    key = tmp_path / "keys" / "sign.pem"
    assert run_cli(["keygen", str(key)], repo)[0] == 0
    code, _, err = run_cli(["build", "specs/examples/acoustic-xylo.yaml", "--out", "bundles", "--no-cache",
                            "--sign-key", str(key)], repo)
    assert code == 0, err
    bundle = next((repo / "bundles").rglob("manifest.json")).parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = run_cli(["verify", str(bundle)], elsewhere)
    assert code == 0, err
    # the last line says whether the signature was part of the pass
    assert out.splitlines()[-1] == "verification passed (signed, but no signature checked: pass --verify-key PUB)"
    public = f"{key}.pub"
    code, out, err = run_cli(["verify", str(bundle), "--verify-key", public], elsewhere)
    assert code == 0, err
    from engine.pipeline import key_id, verify_key

    signer = key_id(verify_key(str(public))).hex()[:16]
    assert out.splitlines()[-1] == f"verification passed (signature by key {signer} checked)"


def test_the_graph_gives_units_and_the_models_names(repo):
    code, out, err = run_cli(["graph", "specs/examples/compressor.yaml"], repo)
    assert code == 0, err
    assert '"sensor" [label="sensor\\n3 axes at 1.6 kHz", shape=box];' in out
    assert '"stage:decimate" [label="stage:decimate\\n3 axes at 800 Hz", shape=box];' in out
    assert '"stage:band_energy" [label="stage:band_energy\\n16 features every 10 ms", shape=box];' in out
    assert '"alerts" [label="alerts\\n1 class per window", shape=box];' in out
    hidden = next(line for line in out.splitlines() if line.startswith('    "pop:hidden"'))
    assert hidden.endswith('spikes/s each\\n(model: lif1)", shape=ellipse];')


def test_numbers_in_engineering_units():
    from engine.cli.numbers import eng

    assert [eng(5e7, "Hz"), eng(295000.0, "Hz"), eng(4e-2, "J"), eng(3.91e-5, "J"), eng(0.0, "J"), eng(None, "J")] == [
        "50 MHz", "295 kHz", "40 mJ", "39.1 uJ", "0 J", "unknown"]


def test_report_keys_read_as_words():
    from engine.report.html import readable

    assert readable("cycles.dynamic_energy_j") == "cycles: dynamic energy"
    assert readable("power.inference_uW") == "power: inference"
    assert readable("cortex_m4.flash_bytes") == "cortex m4: flash bytes"


def overlay(repo: Path, name: str, text: str) -> str:
    path = repo / "specs" / "sites" / name
    path.write_text("# yaml-language-server: $schema=../../schemas/nmspec-base.schema.json\n" + text)
    return str(path.relative_to(repo))


def test_an_overlay_inserts_a_stage_after_a_named_base_stage(repo):
    spec = overlay(repo, "insert.yaml", "apiVersion: nmspec/v1\nkind: SiteDeployment\nextends: ../base/compressor.yaml\n"
                   "metadata: {site: plant-7/insert}\npower: {battery: {cell: er14505, overrides: {capacity: 2.6Ah}}}\n"
                   "preprocessing:\n  - insert_after: dc_block\n    highpass: {cutoff: 10Hz}\n")
    code, out, err = run_cli(["render", spec], repo)
    assert code == 0, err
    import yaml

    stages = [next(k for k in item if k != "id") for item in yaml.safe_load(out)["preprocessing"]]
    assert stages == ["dc_block", "highpass", "notch", "lowpass", "decimate", "band_energy", "encode"]
    assert run_cli(["validate", spec], repo)[0] == 0
    spec = overlay(repo, "insert-unknown.yaml", "apiVersion: nmspec/v1\nkind: SiteDeployment\n"
                   "extends: ../base/compressor.yaml\nmetadata: {site: plant-7/insert-2}\n"
                   "power: {battery: {cell: er14505, overrides: {capacity: 2.6Ah}}}\npreprocessing:\n"
                   "  - insert_after: dcblock\n    highpass: {cutoff: 10Hz}\n")
    code, _, err = run_cli(["validate", spec], repo)
    assert code == 1
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if "NM220" in line)
    assert lines[start:start + 2] == [
        f"{spec}:8:19: error[NM220]: preprocessing[6].insert_after: no stage 'dcblock' was inherited to place this stage by",
        ("  hint: name an inherited stage: dc_block, mains, lowpass, decimate, band_energy, encode; in a spec without extends, "
        "list the stages in their order instead")]


def test_a_sites_granularity_is_blamed_at_the_sites_line(repo):
    spec = overlay(repo, "pump-per-channel.yaml", "apiVersion: nmspec/v1\nkind: SiteDeployment\n"
                   "extends: ../examples/pump-loihi.yaml\nmetadata: {site: plant-8/pump-2}\n"
                   "model:\n  quantization: {granularity: per_channel}\n")
    code, _, err = run_cli(["fit", spec], repo)
    assert code == 1
    assert err.splitlines()[:2] == [
        (f"{spec}:7:31: error[NM311]: model.quantization.granularity per_channel: loihi holds one vth per population, "
        "so its scales are per layer"),
        "  hint: set granularity: per_layer (this target's scales are per layer)"]


def test_a_verification_problem_of_the_merged_site_is_reported_in_the_site(repo):
    """plant-9 without per-channel scales: the agreement is the merged site's, so the site
    is blamed (at its extends line), and the hint's fix passes."""
    spec = overlay(repo, "plant-9-per-layer.yaml", (repo / "specs" / "sites" / "plant-9-compressor-1.yaml").read_text()
                   .split("\n", 1)[1].replace("quantization: {granularity: per_channel}", "quantization: {granularity: per_layer}")
                   .replace("site: plant-9/compressor-1", "site: plant-9/compressor-9"))
    code, _, err = run_cli(["verify", spec], repo)
    assert code == 1
    first, hint = err.splitlines()[:2]
    assert re.fullmatch(rf"{re.escape(spec)}:6:10: error\[NM802\]: verify: the kernel agrees with the float model on "
                        r"[\d.]+% of 48 windows, below min_agreement 0\.99 \(verify\.min_agreement is not set; its "
                        r"section is in specs/base/compressor\.yaml:\d+:3\)", first), first
    assert hint == ("  hint: set model.quantization.granularity: per_channel (one scale per neuron instead of one per "
                    "layer); `nmspec verify SPEC` shows the agreement it gives")
    (repo / spec).write_text((repo / spec).read_text().replace("granularity: per_layer", "granularity: per_channel"))
    code, _out, err = run_cli(["verify", spec], repo)
    assert code == 0, err
