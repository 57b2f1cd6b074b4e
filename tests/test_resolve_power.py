"""Power arithmetic against figures worked by hand (the derivations are in the comments)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.catalog import MissingFigure, builtin_catalog
from engine.resolve.power import Activity, cell_life, lora_airtime, node_power
from engine.spec.model import site_spec
from engine.spec.render import with_defaults


def test_the_issue_figure_2_6_ah_over_10_years_is_29_7_ua_before_self_discharge():
    # 2.6 Ah / (10 y x 8766 h/y) = 2.6 / 87660 h = 29.660 uA
    usable, leak, years = cell_life(2.6, 0.0, 0.0, 29.660e-6)
    assert usable == 2.6 and leak == 0.0
    assert years == pytest.approx(10.0, rel=1e-4)
    assert round(2.6 / (10 * 8766) * 1e6, 1) == 29.7


def test_cell_life_with_derating_and_self_discharge():
    # 2.6 Ah derated 10% -> 2.34 Ah; 1 %/y of it leaks: 2.34 x 0.01 / 8766 h = 2.6694 uA
    # life = 2.34 / (20 uA + 2.6694 uA) h = 103,225 h = 11.7756 y
    usable, leak, years = cell_life(2.6, 0.10, 0.01, 20e-6)
    assert usable == pytest.approx(2.34)
    assert leak == pytest.approx(2.66940e-6, rel=1e-5)
    assert years == pytest.approx(11.7756, rel=1e-4)


@pytest.mark.parametrize("payload, sf, expected_ms", [
    # SF7/125 kHz: Tsym = 2^7 / 125 kHz = 1.024 ms; 33 bytes: ceil((264 - 28 + 28 + 16) / 28) = 10
    # -> 8 + 10 x 5 = 58 payload symbols + 12.25 preamble = 70.25 x 1.024 ms
    (33, 7, 71.936),
    # 13 bytes: ceil((104 - 28 + 44) / 28) = 5 -> 8 + 25 = 33 + 12.25 = 45.25 symbols
    (13, 7, 46.336),
    # SF12 turns on low-data-rate optimisation: Tsym = 32.768 ms; ceil((104 - 48 + 44) / 40) = 3
    # -> 8 + 15 = 23 + 12.25 = 35.25 symbols
    (13, 12, 1155.072),
])
def test_lora_time_on_air(payload, sf, expected_ms):
    assert lora_airtime(payload, sf) * 1e3 == pytest.approx(expected_ms, abs=1e-9)


# Round figures for every part, so each consumer can be worked by hand.
OVERRIDES = {
    "sensors": {"active_current": 100e-6, "standby_current": 1e-6},
    "mcus": {"clock": 4e6, "run_current_per_mhz": 100e-6, "sleep_current": 2e-6},
    "chips": {"sleep_power": 3.6e-6, "wake_energy": 36e-6, "energy_per_synaptic_op": 10e-12,
              "energy_per_neuron_update": 20e-12},
    "radios": {"tx_current_22dbm": 0.1, "rx_current": 5e-3, "sleep_current": 1e-6},
    "cells": {"nominal_voltage": 3.6, "capacity": 2.6, "self_discharge": 0.01, "low_drain_derating": 0.0},
}
SPEC = {
    "power": {"battery": {"cell": "er14505", "lifetime": "10y", "count": 1}, "budget": "25uW",
              "chip_mode": "duty_cycled", "radio": {"part": "sx1262", "spreading_factor": 7, "tx_power": "22dBm"}},
    "alerts": {"send": "anomalies", "expected_anomalies_per_day": 1, "confirmed": True, "status_interval": "24h"},
}
# one 1 s window every 10 s: 1e6 synaptic events, 1e5 neuron updates, 4e5 MCU cycles
ACTIVITY = Activity(window_s=1.0, interval_s=10.0, steps=100, synaptic_ops=1e6, neuron_updates=1e5, mcu_cycles=4e5)


def _report(spec=SPEC, overrides=OVERRIDES):
    catalog = builtin_catalog()
    return node_power(sensor=catalog.part("sensors", "lis2dw12"), mcu=catalog.part("mcus", "stm32l4"),
                      chip=catalog.part("chips", "xylo-imu"), radio=catalog.part("radios", "sx1262"),
                      cell=catalog.part("cells", "er14505"), spec=_typed(spec), activity=ACTIVITY, overrides=overrides)


def _typed(sections):
    """The compressor example with these top-level sections in place of its own, typed."""
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "specs/examples/compressor.yaml").read_text())
    return site_spec(with_defaults({**data, **sections})[0])


def test_every_consumer_by_hand():
    report = _report()
    currents = {c.name: c.current_a * 1e6 for c in report.consumers}
    # sensor: 100 uA for 10% of the time + 1 uA for 90% = 10.9 uA
    assert currents["sensor"] == pytest.approx(10.9)
    # mcu: 4e5 cycles / 4 MHz = 0.1 s per 10 s (1%) at 400 uA, 2 uA asleep for 99% = 4 + 1.98
    assert currents["mcu"] == pytest.approx(5.98)
    # chip: 3.6 uW + (36 uJ wake + 1e6 x 10 pJ + 1e5 x 20 pJ) / 10 s = 3.6 + 4.8 = 8.4 uW / 3.6 V
    assert currents["chip"] == pytest.approx(8.4 / 3.6)
    # radio, the firmware's frames: 1 anomaly of 12 + 13 bytes, ceil((200 - 28 + 44) / 28) = 8
    # -> 48 + 12.25 = 60.25 symbols = 61.696 ms, and 1 status of 39 + 13 bytes,
    # ceil((416 - 28 + 44) / 28) = 16 -> 88 + 12.25 = 100.25 symbols = 102.656 ms, at 100 mA;
    # each listens for the ack (46.336 ms) plus two 25 ms windows: 2 x 96.336 ms at 5 mA;
    # 1 uA the rest of the day
    tx_s, rx_s = 0.061696 + 0.102656, 2 * 0.096336
    radio = (0.1 * tx_s + 5e-3 * rx_s + 1e-6 * (86400 - tx_s - rx_s)) / 86400
    assert currents["radio"] == pytest.approx(radio * 1e6)
    assert currents["radio"] == pytest.approx(1.20137, rel=1e-5)
    total = 10.9 + 5.98 + 8.4 / 3.6 + radio * 1e6
    assert report.total_current_a * 1e6 == pytest.approx(total)
    # 1 %/y of 2.6 Ah leaks as 2.6 x 0.01 / 8766 h = 2.9660 uA
    assert report.self_discharge_a * 1e6 == pytest.approx(2.96600, rel=1e-5)
    # 2.6 Ah / (20.415 + 2.966) uA = 111,203 h = 12.686 y
    assert report.life_years == pytest.approx(2.6 / ((total + 2.96600) * 1e-6) / 8766, rel=1e-5)
    assert report.life_years == pytest.approx(12.686, abs=1e-3)
    assert report.required_years == pytest.approx(10.0)
    # inference: the chip's 8.4 uW + the MCU's active share 4 uA x 3.6 V = 14.4 uW
    assert report.inference_power_w * 1e6 == pytest.approx(22.8)
    assert report.budget_w == pytest.approx(25e-6)
    shares = sum(share for _, _, _, share in report.rows())
    assert shares == pytest.approx(1.0)


def test_always_on_chip_pays_idle_power():
    spec = {**SPEC, "power": {**SPEC["power"], "chip_mode": "always_on"}}
    overrides = {**OVERRIDES, "chips": {**OVERRIDES["chips"], "idle_power": 36e-6}}
    report = _report(spec, overrides)
    chip = next(c for c in report.consumers if c.name == "chip")
    # 36 uW idle + 12 uJ per 10 s window = 37.2 uW / 3.6 V
    assert chip.current_a * 1e6 == pytest.approx(37.2 / 3.6)


def test_a_missing_figure_stops_the_power_table_and_names_it():
    overrides = {**OVERRIDES, "cells": {k: v for k, v in OVERRIDES["cells"].items() if k != "capacity"}}
    with pytest.raises(MissingFigure) as info:
        _report(overrides=overrides)
    assert info.value.message.startswith("cell er14505: figure 'capacity' is not verified in any source")
