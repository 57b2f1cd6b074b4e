"""Whether the host can read a readout neuron's membrane is a property of the chip, from the
catalog with its source (`membrane_readout`), not of the family: a model read by its
readout's membrane is refused on a chip whose host cannot read it (NM310) or whose catalog
entry does not say (NM319, whose hint the spec can follow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_framework_deploy import ACOUSTIC, materialise, nmspec, site

from engine.catalog import builtin_catalog

FIXTURES = Path(__file__).parent / "data" / "frameworks"
READOUT = ("target.chip: the model's readout '3' (li) is a leaky integrator read by its membrane (it never spikes; a "
           "window's class is the readout neuron whose membrane peaks highest)")
INSTEAD = ("train the model with a spiking readout (LIF or IF, classified by spike count), or choose a target whose host "
           "reads the readout's membrane ({})")


def test_the_chips_whose_host_reads_a_membrane_say_where():
    catalog = builtin_catalog()
    figures = {pid: catalog.part("chips", pid).figure("membrane_readout") for pid in catalog.ids("chips")}
    assert sorted(p for p, f in figures.items() if f.value is True) == [
        "generic-lif", "loihi1", "loihi2", "speck", "xylo-audio2", "xylo-audio3", "xylo-imu"]
    assert [p for p, f in figures.items() if f.value is False] == []
    for pid in ("loihi1", "loihi2", "speck", "xylo-audio2", "xylo-audio3", "xylo-imu"):
        assert catalog.part("chips", pid).citations("membrane_readout"), pid
        assert figures[pid].verified == ("secondary" if pid == "loihi1" else "primary"), pid
    assert catalog.part("chips", "xylo-imu").citations("membrane_readout") == (
        ("Rockpool rockpool/devices/xylo/syns63300/xylo_imu_devkit_utils.py, configure_accel_time_mode(readout=\"Vmem\") "
         "and decode_realtime_mode_data (output_v_mems)"),)
    assert figures["generic-lif"].verified == "defined"


def test_nmspec_targets_shows_it():
    listed = subprocess.run([sys.executable, "-m", "engine", "targets"], capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split()[-1] for line in listed.splitlines()[2:] if line and not line.startswith(("?", "fidelity"))}
    assert listed.splitlines()[0].endswith("readout Vmem")
    assert (rows["xylo-imu"], rows["loihi2"], rows["speck"], rows["spinnaker2"]) == ("yes", "yes", "yes", "?")
    as_json = subprocess.run([sys.executable, "-m", "engine", "targets", "-o", "json"], capture_output=True, text=True,
                             check=True).stdout
    loihi2 = next(p for p in json.loads(as_json) if p["id"] == "loihi2")["figures"]["membrane_readout"]
    assert (loihi2["value"], loihi2["verified"]) == (True, "primary")


def li_readout_site(tmp_path: Path, target: str) -> Path:
    """Norse's own export of LIFCell -> LIBoxCell (an LI readout) on the acoustic chain at 1 ms."""
    materialise(tmp_path, FIXTURES / "norse_lif_li.nir", 3, traces="acoustic")
    (tmp_path / "site.yaml").write_text(site("norse_lif_li.nir", "norse", "1ms", ["normal", "leak", "valve_chatter"],
                                             target, "li-readout", chain=ACOUSTIC))
    return tmp_path


def test_a_chip_whose_host_cannot_read_the_membrane_refuses_the_readout(tmp_path):
    folder = li_readout_site(tmp_path, "target:\n  chip: generic-lif\n  mcu: stm32l4\n  overrides: {membrane_readout: false}\n")
    result = nmspec("fit", "site.yaml", cwd=folder)
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        (f"site.yaml:18:9: error[NM310]: {READOUT}; the host cannot read a neuron's membrane on generic-lif "
         "(target.overrides: membrane_readout: false)"),
        "  hint: " + INSTEAD.format("loihi1, loihi2, xylo-audio2, xylo-audio3, xylo-imu")]


def test_a_chip_whose_catalog_does_not_say_refuses_until_the_spec_does(tmp_path):
    """SpiNNaker 2's catalog entry has no source for it: NM319; following its hint (the spec
    says the host reads the membrane) the fit passes."""
    target = ("target:\n  chip: spinnaker2\n  mcu: stm32l4\n"
              "  overrides: {{idle_power: 1mW, active_power: 2mW, sleep_power: 10uW, wake_energy: 5uJ{}}}\n")
    folder = li_readout_site(tmp_path, target.format(""))
    result = nmspec("fit", "site.yaml", cwd=folder)
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        (f"site.yaml:18:9: error[NM319]: {READOUT}; no checked source says whether the host can read a neuron's "
         "membrane on spinnaker2 (its catalog figure 'membrane_readout' is unverified)"),
        ("  hint: if the chip's documentation shows how the host reads a readout neuron's membrane, say so in the spec "
         "(target.overrides: {membrane_readout: true}) or in a catalog file of your repository with its source; "
         "otherwise " + INSTEAD.format("generic-lif, loihi1, loihi2, xylo-audio2, xylo-audio3, xylo-imu"))]
    (folder / "site.yaml").write_text(site("norse_lif_li.nir", "norse", "1ms", ["normal", "leak", "valve_chatter"],
                                           target.format(", membrane_readout: true"), "li-readout", chain=ACOUSTIC))
    result = nmspec("fit", "site.yaml", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "NM319" not in result.stderr

