"""Speck's latency and power, worked by hand on the shipped example
(specs/examples/compressor-speck.yaml, whose first steps tests/test_speck_example.py works out).

Latency (engine/verify/cycles.py, `speck-event`): Richter et al. 2023 publish 3.36 us for one
event through 9 layers; every event a layer receives costs 3.36 / 9 = 0.37333 us, one after
another. The input of test_speck_example (step 0: three events on channel 0, step 1: one,
step 2: two on channel 2, step 3: three on channel 0) makes if1[1] spike on steps 0 and 3,
one event each into if2, so the layers receive 3 + 1, 1, 2, 3 + 1 events.

Power (engine/resolve/power.py): Yao et al. 2024 publish 0.42 mW resting and 0.70 mW as the
lowest total running power, so 0.28 mW dynamic while the chip infers. The example is
power-gated with the spec's 2 uW asleep and 20 uJ per wake, one 1 s window every 60 s."""

from __future__ import annotations

import attrs
import pytest

from engine.catalog import builtin_catalog
from engine.resolve.power import site_power
from engine.resolve.rank import power_shortfall
from engine.verify import kernel
from engine.verify.cycles import count_cycles, cycle_model, inference_energy
from tests.firmware_support import example, network_of

EVENT_S = 3.36e-6 / 9  # one event through one layer


@pytest.fixture(scope="module")
def site():
    result, deployment = example("compressor-speck")
    return network_of(result.files), deployment


def _hand_input():
    import numpy as np

    x = np.zeros((4, 16), dtype=np.int64)
    x[0, 0], x[1, 0], x[2, 2], x[3, 0] = 3, 1, 2, 3
    return x


def test_latency_is_the_events_each_layer_receives_times_the_per_layer_share(site):
    network, _ = site
    model = cycle_model(builtin_catalog().part("chips", "speck"))
    assert model.kind == "speck-event"
    assert model.clock_hz == pytest.approx(9 / 3.36e-6, rel=1e-12)  # 2.679 MHz: one layer event per "cycle"
    counts = count_cycles(network, kernel.run(network, _hand_input()), model)
    assert counts.cycles[:, 0].tolist() == [4.0, 1.0, 2.0, 4.0]
    # 4 x 0.37333 = 1.4933 us, 0.37333 us, 0.74667 us, 1.4933 us: far inside the 10 ms step
    assert counts.latency_s.tolist() == pytest.approx([4 * EVENT_S, EVENT_S, 2 * EVENT_S, 4 * EVENT_S], rel=1e-12)
    assert counts.real_time
    # at a 1 us step the busiest step (1.4933 us) no longer keeps up
    fast = attrs.evolve(network, dt=1e-6)
    assert not count_cycles(fast, kernel.run(fast, _hand_input()), model).real_time
    # energy of these 4 steps of 10 ms: dynamic 0.28 mW x 40 ms = 11.2 uJ, resting 0.42 mW x 40 ms = 16.8 uJ
    energy = inference_energy(counts, model)
    assert (energy.dynamic_j, energy.static_j) == (pytest.approx(11.2e-6, rel=1e-12), pytest.approx(16.8e-6, rel=1e-12))


def test_the_chip_power_of_the_example_by_hand(site):
    _, deployment = site
    chip = next(c for c in deployment.power.consumers if c.name == "chip")
    # power-gated: 2 uW asleep + (20 uJ wake + 0.28 mW x 1 s dynamic + 0.42 mW x 1 s resting) / 60 s
    # = 2 + 720 / 60 = 14 uW
    assert chip.current_a * deployment.power.voltage_v == pytest.approx(2e-6 + 720e-6 / 60, rel=1e-12)
    assert chip.detail == ("power-gated: 2 uW asleep + (20 uJ wake + 700 uJ inference) every 60 s; inference: 280 uW "
                           "dynamic x the 1 s window + 420 uJ resting while awake (no per-event energy is published "
                           "for speck)")
    assert power_shortfall(deployment.power) is None


def test_always_on_speck_is_over_a_microwatt_budget(site):
    _, deployment = site
    spec = deployment.spec
    always_on = attrs.evolve(spec, power=attrs.evolve(spec.power, chip_mode="always_on"))
    power = site_power(always_on, builtin_catalog(), deployment.activity, always_on.part_overrides())
    chip = next(c for c in power.consumers if c.name == "chip")
    # 420 uW resting + 0.28 mW x 1 s every 60 s = 420 + 4.6667 uW (the resting power counted once)
    assert chip.current_a * power.voltage_v == pytest.approx(420e-6 + 280e-6 / 60, rel=1e-12)
    assert power_shortfall(power).startswith("inference ")
    assert "> 61 uW budget" in power_shortfall(power)
