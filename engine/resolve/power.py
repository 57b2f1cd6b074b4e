"""The node's energy budget: every consumer's average current from catalog figures, the
cell's usable charge, and the battery life that follows.

All currents are averages drawn from the cell at its nominal voltage (regulators are
taken as linear: current in equals current out), in amperes; powers are current x cell
voltage. A figure the catalog holds as unverified must come from the spec; otherwise the
computation stops with the catalog's MissingFigure (which names the part, the figure and
where to supply it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from engine.resolve.alerts import LORA_OVERHEAD_BYTES, alert_policy, lora_airtime
from engine.spec.model import SiteSpec, TxPower

if TYPE_CHECKING:
    from engine.catalog import Catalog, Part
    from engine.dsp.chain import Chain

HOURS_PER_YEAR = 8766.0  # 365.25 days
ACK_PAYLOAD_BYTES = 0  # a confirmed uplink's acknowledgement carries no application payload
RX_WINDOW_S = 0.025  # receiver on-time to detect the downlink preamble when none arrives
# How far a node's measured average current may stand from this model's before the difference
# means something: the catalog's currents are datasheet typicals (their spread over parts and
# temperature is commonly +-20 %), the signal chain's cycle factor fits its measurements within
# 10 %, and the uplinks per day are the spec's estimate of anomalies. Field status flags a site
# beyond it (docs/telemetry.md).
PREDICTION_UNCERTAINTY = 0.25



@attrs.frozen
class Consumer:
    name: str  # sensor | mcu | chip | radio | self-discharge
    part: str
    current_a: float  # average
    detail: str  # how it was computed, for the report


@attrs.frozen
class PowerReport:
    consumers: tuple[Consumer, ...]
    voltage_v: float
    capacity_ah: float  # usable, after derating
    self_discharge_a: float
    total_current_a: float
    life_years: float
    required_years: float
    inference_power_w: float  # chip + the MCU's share for the signal chain
    budget_w: float | None
    uncapped_life_years: float | None = None  # what the charge alone would give, when the cap applies
    life_cap_years: float | None = None  # the cell's longest claimed service life
    temperature: TemperatureDerating | None = None  # how the site's temperature range derated the cell

    @property
    def total_power_w(self) -> float:
        """The consumers' power, without the cell's self-discharge (which no load draws)."""
        return self.total_current_a * self.voltage_v

    @property
    def drain_current_a(self) -> float:
        """What empties the cell: the consumers plus its self-discharge."""
        return self.total_current_a + self.self_discharge_a

    def rows(self) -> list[tuple[str, str, float, float]]:
        """(consumer, part, microamps, share of the total)."""
        total = self.total_current_a + self.self_discharge_a
        return [(c.name, c.part, c.current_a * 1e6, c.current_a / total if total else 0.0) for c in self.consumers] + \
               [("self-discharge", "cell", self.self_discharge_a * 1e6, self.self_discharge_a / total if total else 0.0)]


@attrs.frozen
class Activity:
    """What one measurement window costs, from calibration."""

    window_s: float
    interval_s: float
    steps: int  # model steps per window
    synaptic_ops: float  # per window
    neuron_updates: float  # per window
    mcu_cycles: float  # signal chain + encoder per window


ROOM_K = 293.15  # 20 C: the temperature cells are rated at when a datasheet gives no other


@attrs.frozen
class TemperatureDerating:
    """The cell over the site's temperature range, by the worst-band rule: the range's coldest
    point sets the capacity and its hottest the self-discharge, as if the node spent its whole
    life at each (the spec gives a range, not how long the site spends where)."""

    site_k: tuple[float, float] | None  # environment.temperature; None when the spec gives none
    capacity_factor: float  # of the rated capacity
    self_discharge_per_year: float  # fraction of the usable charge
    notes: tuple[str, ...]  # what was derated from which figure, and what could not be

    def describe(self) -> str:
        if self.site_k is None:
            where = "no environment.temperature: the cell's room-temperature figures"
        else:
            where = (f"worst band of the site's {self.site_k[0] - 273.15:g}..{self.site_k[1] - 273.15:g} C "
                     "(capacity at the coldest point, self-discharge at the hottest)")
        return f"{where}: capacity x{self.capacity_factor:.3g}, self-discharge {self.self_discharge_per_year:.3%}/y; " \
               + "; ".join(self.notes)


def _table_over(table: list[tuple[float, float]], low: float, high: float) -> tuple[list[float], tuple[float, float]]:
    """The table's values (linearly interpolated) at the ends of [low, high] and at its own
    points inside, over the part of the range the table covers; and that part (empty when
    low > high)."""
    temps = [t for t, _ in table]
    lo, hi = max(low, temps[0]), min(high, temps[-1])
    if lo > hi:
        return [], (lo, hi)
    return [_interpolate(table, t) for t in [lo, hi] + [t for t in temps if lo <= t <= hi]], (lo, hi)


def _interpolate(table: list[tuple[float, float]], t: float) -> float:
    for (t0, v0), (t1, v1) in itertools.pairwise(table):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return table[0][1] if len(table) == 1 or t <= table[0][0] else table[-1][1]


def _uncovered(name: str, cell: str, site: tuple[float, float], covered: tuple[float, float] | None) -> str | None:
    def c(kelvin: float) -> str:
        return f"{kelvin - 273.15:g} C"

    low, high = site
    if covered is None or covered[0] > covered[1]:
        return f"{name} not derated: no checked figure gives the {cell}'s {name} over {c(low)}..{c(high)}"
    gaps = ([f"{c(low)}..{c(covered[0])}"] if low < covered[0] else []) + \
           ([f"{c(covered[1])}..{c(high)}"] if high > covered[1] else [])
    return f"{name} not derated over {' and '.join(gaps)}: no checked figure for the {cell} there" if gaps else None


def temperature_derating(cell: Part, site_k: tuple[float, float] | None, self_discharge: float) -> TemperatureDerating:
    """`self_discharge` is the cell's room-temperature figure (or the spec's override), which the
    table can only raise: a datasheet's bound at 20 C still holds for a site that is colder."""
    if site_k is None:
        return TemperatureDerating(None, 1.0, self_discharge, ())
    notes = []
    factor = 1.0
    # a cell delivers no less of its charge when warmer than its table's warmest point, and
    # leaks no more when colder than its coldest: those ends of the range need no figure
    low, high = site_k
    figure = cell.figure("capacity_vs_temperature")
    covered: tuple[float, float] | None = None
    if figure.known:
        table = figure.si()
        values, covered = _table_over(table, min(low, table[-1][0]), high)
        if values:
            factor = min(values)
            if factor < 1.0:
                notes.append(f"capacity {factor:.1%} of rated at {_worst(table, covered, min) - 273.15:g} C "
                             f"({figure.verified})")
            covered = (covered[0], max(covered[1], high))
    gap = _uncovered("capacity", cell.id, site_k, covered)
    if gap:
        notes.append(gap)
    rate = self_discharge
    figure = cell.figure("self_discharge_vs_temperature")
    covered = None
    if figure.known:
        table = figure.si()
        values, covered = _table_over(table, low, max(high, table[0][0]))
        if values:
            worst = max(values)
            if worst > rate:
                rate = worst
                notes.append(f"self-discharge {rate:.3%}/y at {_worst(table, covered, max) - 273.15:g} C "
                             f"({figure.verified})")
            covered = (min(covered[0], low), covered[1])
    gap = _uncovered("self-discharge", cell.id, site_k, covered)
    if gap:
        notes.append(gap)
    return TemperatureDerating(site_k, factor, rate, tuple(notes))


def _worst(table: list[tuple[float, float]], covered: tuple[float, float], pick: Any) -> float:
    """The temperature in `covered` where the table's value is least (pick=min) or most (max)."""
    points = sorted({covered[0], covered[1], *(t for t, _ in table if covered[0] <= t <= covered[1])})
    return float(pick(points, key=lambda t: _interpolate(table, t)))


def cell_life(capacity_ah: float, derating: float, self_discharge_per_year: float, load_a: float) -> tuple[float, float, float]:
    """(usable Ah, self-discharge current A, life in years) for a constant average load."""
    usable = capacity_ah * (1.0 - derating)
    leak = usable * self_discharge_per_year / HOURS_PER_YEAR
    life_h = usable / (load_a + leak) if load_a + leak > 0 else math.inf
    return usable, leak, life_h / HOURS_PER_YEAR


# Cortex-M4 instructions the chain's C costs, measured on the bundle firmware (-O2) under
# QEMU -icount (engine/codegen/measure.py, `make bench` firmware): the first-principles
# counts below (one 32x32->64 MAC per biquad coefficient, N/2 log2 N butterflies per FFT)
# fall short of the measured totals by 4.2x (pump, acoustic) to 4.8x (compressor): the C
# rounds, saturates and keeps 16 guard bits in every state. One factor fitted over the three
# examples puts each within 10% of its measurement; instructions are taken as cycles.
MEASURED_OVER_FIRST_PRINCIPLES = 4.4


def dsp_cycles_per_window(chain: Chain, window_s: float) -> float:
    """Cortex-M4 cycles of the fixed-point chain per window: per input sample and axis ~12
    operations for the DC blocker and ~20 per biquad section, per frame an N/2 log2 N
    butterfly FFT at ~10 per butterfly, ~8 per feature for log2 and encoding; scaled by the
    measured factor above."""
    from engine.dsp.features import Features
    from engine.dsp.stages import Biquads, DcBlock, Decimate, Envelope

    samples = chain.sample_rate * window_s
    cycles, rate = 0.0, samples
    for stage in chain.sample_stages:
        if isinstance(stage, DcBlock):
            cycles += 12 * rate * chain.axes
        elif isinstance(stage, Biquads):
            cycles += 20 * len(stage.sections) * rate * chain.axes
        elif isinstance(stage, Envelope):
            cycles += 10 * rate * chain.axes
        elif isinstance(stage, Decimate):
            rate /= stage.factor
            cycles += 2 * len(stage.taps) * rate * chain.axes  # one MAC per tap, per kept sample
    frames = window_s / chain.dt
    fft = getattr(chain.framer, "fft", 0)
    if fft:
        cycles += frames * chain.axes * (fft / 2 * math.log2(fft) * 10 + fft * 4)
    if isinstance(chain.framer, Features):  # running sums of x, x^2 and x^4 per sample
        cycles += 12 * rate * chain.axes
    cycles += frames * (chain.n_features + chain.n_channels) * 8
    return cycles * MEASURED_OVER_FIRST_PRINCIPLES


def chip_power(mode: str, *, energy_j: float, interval_s: float, idle_w: float = 0.0, sleep_w: float = 0.0,
               wake_j: float = 0.0) -> float:
    """The chip's average power: always on, its idle power plus one inference's energy per
    interval; duty-cycled, its power asleep plus the wake-up and the inference per interval.
    (tests/test_power_published.py holds it against published measurements.)"""
    if mode == "always_on":
        return idle_w + energy_j / interval_s
    return sleep_w + (wake_j + energy_j) / interval_s


def node_power(*, sensor: Part, mcu: Part, chip: Part, radio: Part | None, cell: Part, spec: SiteSpec,
               activity: Activity, overrides: Mapping[str, Mapping[str, float]]) -> PowerReport:
    """Raises engine.catalog.MissingFigure when a needed figure is unverified and not supplied."""
    power = spec.power
    battery = power.battery
    voltage = cell.require("nominal_voltage", overrides.get("cells"))
    duty = activity.window_s / activity.interval_s
    consumers = []

    active = sensor.require("active_current", overrides.get("sensors"))
    standby = sensor.require("standby_current", overrides.get("sensors"))
    consumers.append(Consumer("sensor", sensor.id, active * duty + standby * (1 - duty),
                              f"{active * 1e6:.4g} uA for {duty:.1%} of the time, {standby * 1e6:.3g} uA standby"))

    clock = mcu.require("clock", overrides.get("mcus"))
    per_mhz = mcu.require("run_current_per_mhz", overrides.get("mcus"))
    sleep = mcu.require("sleep_current", overrides.get("mcus"))
    run_s = activity.mcu_cycles / clock
    mcu_duty = run_s / activity.interval_s
    run_current = per_mhz * clock / 1e6
    mcu_current = run_current * mcu_duty + sleep * (1 - mcu_duty)
    consumers.append(Consumer("mcu", mcu.id, mcu_current,
                              f"{activity.mcu_cycles:,.0f} cycles per window at {clock / 1e6:g} MHz "
                              f"({run_current * 1e6:.4g} uA for {mcu_duty:.3%}), {sleep * 1e6:.3g} uA asleep"))

    chip_over = overrides.get("chips")
    mode = power.chip_mode
    energy = _inference_energy(chip, chip_over, activity)
    dynamic = _dynamic_power(chip, chip_over)
    how = "" if dynamic is None else f"{dynamic * 1e6:.4g} uW dynamic x the {activity.window_s:g} s window"
    if mode == "always_on":
        idle = chip.require("idle_power", chip_over)
        chip_w = chip_power(mode, idle_w=idle, energy_j=energy, interval_s=activity.interval_s)
        detail = f"always on: {idle * 1e6:.4g} uW idle + {energy * 1e6:.3g} uJ per window"
    else:
        sleep_w = chip.require("sleep_power", chip_over)
        wake = chip.require("wake_energy", chip_over)
        if dynamic is not None:
            # a chip published as resting + dynamic power draws both while it is awake for the window
            resting = chip.require("idle_power", chip_over) * activity.window_s
            how += f" + {resting * 1e6:.3g} uJ resting while awake"
            energy += resting
        chip_w = chip_power(mode, sleep_w=sleep_w, wake_j=wake, energy_j=energy, interval_s=activity.interval_s)
        detail = (f"power-gated: {sleep_w * 1e6:.3g} uW asleep + ({wake * 1e6:.3g} uJ wake + {energy * 1e6:.3g} uJ "
                  f"inference) every {activity.interval_s:g} s")
    if how:
        detail += f"; inference: {how} (no per-event energy is published for {chip.id})"
    consumers.append(Consumer("chip", chip.id, chip_w / voltage, detail))

    if radio is not None:
        tx_power: TxPower = power.radio.tx_power if power.radio is not None else "14dBm"
        consumers.append(_radio(radio, tx_power, spec, overrides.get("radios")))

    total = sum(c.current_a for c in consumers)
    site = spec.environment.temperature
    life = battery_life(cell, battery.count, total, (site[0], site[1]) if site else None, overrides.get("cells"))
    inference_w = chip_w + (mcu_current - sleep * (1 - mcu_duty)) * voltage
    required = battery.lifetime / (HOURS_PER_YEAR * 3600)
    budget = power.budget
    return PowerReport(tuple(consumers), voltage, life.usable_ah, life.leak_a, total, life.years, required, inference_w,
                       budget, life.uncapped_years, life.cap_years, life.temperature)


@attrs.frozen
class BatteryLife:
    usable_ah: float  # after the low-drain and temperature deratings
    leak_a: float  # the self-discharge at the site's worst temperature, as a current
    years: float  # capped at the cell's service life
    uncapped_years: float | None  # what the charge alone gives, when the cap applies
    cap_years: float | None
    temperature: TemperatureDerating


def battery_life(cell: Part, count: int, load_a: float, site_k: tuple[float, float] | None,
                 overrides: Mapping[str, float] | None) -> BatteryLife:
    """The cell's life under a constant average load over the site's temperature range."""
    capacity = cell.require("capacity", overrides) * count
    derating_fig = cell.figure("low_drain_derating")
    derating = (overrides or {}).get("low_drain_derating", derating_fig.si() if derating_fig.known else 0.0)
    self_discharge = cell.require("self_discharge", overrides)
    temperature = temperature_derating(cell, site_k, self_discharge)
    # the cap below is checked against the life the derated self-discharge leaves: a cell that
    # leaks 4 %/y at the site's hottest does not reach the service life claimed at 20 C
    usable, leak, years = cell_life(capacity * temperature.capacity_factor, derating,
                                    temperature.self_discharge_per_year, load_a)
    # a cell does not outlast its chemistry: the charge may say 60 years, the cell will not
    cap_fig = cell.figure("service_life_max")
    cap = (overrides or {}).get("service_life_max", cap_fig.si() if cap_fig.known else None)
    cap_years = None if cap is None else cap / (HOURS_PER_YEAR * 3600)
    uncapped = None
    if cap_years is not None and years > cap_years:
        uncapped, years = years, cap_years
    return BatteryLife(usable, leak, years, uncapped, cap_years, temperature)


def site_power(spec: SiteSpec, catalog: Catalog, activity: Activity, overrides: Mapping[str, Mapping[str, float]],
               chip: Part | None = None) -> PowerReport:
    """node_power for the parts the spec names, looked up in `catalog`; `chip` stands in for
    the spec's target (to rank other chips for the same node)."""
    radio = spec.power.radio.part if spec.power.radio is not None else None
    return node_power(sensor=catalog.part("sensors", spec.sensor.part), mcu=catalog.part("mcus", spec.target.mcu),
                      chip=chip if chip is not None else catalog.part("chips", spec.target.chip),
                      radio=catalog.part("radios", radio) if radio else None,
                      cell=catalog.part("cells", spec.power.battery.cell), spec=spec, activity=activity,
                      overrides=overrides)


def _given(chip: Part, overrides: Mapping[str, float] | None, figure: str) -> bool:
    return chip.figure(figure).known or (overrides or {}).get(figure) is not None


def _inference_energy(chip: Part, overrides: Mapping[str, float] | None, activity: Activity) -> float:
    """Energy of one window's inference: per-operation energies when the catalog has them,
    else the measured energy per inference, else the dynamic power over the window, else the
    active power over the window."""
    if _given(chip, overrides, "energy_per_synaptic_op") and _given(chip, overrides, "energy_per_neuron_update"):
        syn = chip.require("energy_per_synaptic_op", overrides)
        neu = chip.require("energy_per_neuron_update", overrides)
        return syn * activity.synaptic_ops + neu * activity.neuron_updates
    if _given(chip, overrides, "inference_energy"):
        return chip.require("inference_energy", overrides)
    dynamic = _dynamic_power(chip, overrides)
    if dynamic is not None:
        return dynamic * activity.window_s
    return chip.require("active_power", overrides) * activity.window_s


def _dynamic_power(chip: Part, overrides: Mapping[str, float] | None) -> float | None:
    """The power a chip draws above its idle power while it infers, when that is what its
    inference energy comes from (no per-operation or per-inference energy given; Speck: Yao et
    al. 2024's lowest running power less its resting power)."""
    if (_given(chip, overrides, "energy_per_synaptic_op") and _given(chip, overrides, "energy_per_neuron_update")) \
            or _given(chip, overrides, "inference_energy") or not _given(chip, overrides, "dynamic_power"):
        return None
    return chip.require("dynamic_power", overrides)


def _radio(radio: Part, tx_power: TxPower, spec: SiteSpec, overrides: Mapping[str, float] | None) -> Consumer:
    """The radio's average current for the uplinks the firmware's policy sends: event frames
    and status frames, each confirmed uplink listening for its acknowledgement."""
    policy = alert_policy(spec)
    sf = policy["spreading_factor"]
    tx_current = radio.require("tx_current_22dbm" if tx_power == "22dBm" else "tx_current_14dbm", overrides)
    rx_current = radio.require("rx_current", overrides)
    sleep = radio.require("sleep_current", overrides)
    events, status = policy["event_uplinks_per_day"], policy["nominal_uplinks_per_day"]
    uplinks = events + status
    rx_per_uplink = (lora_airtime(ACK_PAYLOAD_BYTES + LORA_OVERHEAD_BYTES, sf) if policy["confirmed"] else 0.0) \
        + 2 * RX_WINDOW_S
    tx_s = events * policy["anomaly_airtime_s"] + status * policy["status_airtime_s"]
    rx_s = uplinks * rx_per_uplink
    day = 86400.0
    current = (tx_current * tx_s + rx_current * rx_s + sleep * (day - tx_s - rx_s)) / day
    return Consumer("radio", radio.id, current,
                    f"{events:.3g} event uplinks/day of {policy['anomaly_frame_bytes']} B and {status:.3g} status "
                    f"uplinks/day of {policy['status_frame_bytes']} B at SF{sf} "
                    f"({policy['anomaly_airtime_s'] * 1e3:.1f} and {policy['status_airtime_s'] * 1e3:.1f} ms on air) "
                    f"at {tx_current * 1e3:.4g} mA, {sleep * 1e9:.0f} nA asleep")
