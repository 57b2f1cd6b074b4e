"""Synthetic accelerometer and microphone signals with the disturbances real sites have.

The generator simulates the physical acceleration at an internal rate `oversample` times
the sensor's data rate, passes it through the sensor's own first-order low-pass (at half
the data rate, as MEMS accelerometers filter), samples it (so energy above the Nyquist
frequency aliases, as it does on a real sensor) and quantizes it to the sensor's LSB.
See docs/vibration.md for the physics and the sources of the fault signatures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
from scipy import signal as sp

STANDARD_GRAVITY_G = 1.0


@attrs.frozen
class Bearing:
    """Rolling-element geometry; defect frequencies per shaft revolution (orders)."""

    balls: int = 9
    ball_diameter: float = 7.9e-3  # m
    pitch_diameter: float = 39.0e-3  # m
    contact_angle: float = 0.0  # rad

    @property
    def bpfo(self) -> float:
        """Ball-pass frequency, outer race, in orders: n/2 (1 - d/D cos phi)."""
        return self.balls / 2 * (1 - self.ball_diameter / self.pitch_diameter * math.cos(self.contact_angle))

    @property
    def bpfi(self) -> float:
        """Ball-pass frequency, inner race, in orders: n/2 (1 + d/D cos phi)."""
        return self.balls / 2 * (1 + self.ball_diameter / self.pitch_diameter * math.cos(self.contact_angle))

    @property
    def ftf(self) -> float:
        """Fundamental train (cage) frequency, in orders: 1/2 (1 - d/D cos phi)."""
        return 0.5 * (1 - self.ball_diameter / self.pitch_diameter * math.cos(self.contact_angle))

    @property
    def bsf(self) -> float:
        """Ball spin frequency, in orders: D/(2d) (1 - (d/D cos phi)^2)."""
        ratio = self.ball_diameter / self.pitch_diameter * math.cos(self.contact_angle)
        return self.pitch_diameter / (2 * self.ball_diameter) * (1 - ratio * ratio)


@attrs.frozen
class Machine:
    shaft_hz: float  # running speed
    mains_hz: float = 50.0
    bearing: Bearing = Bearing()
    resonance_hz: float = 300.0  # structural resonance the impacts excite
    mounting_hz: float = 220.0  # mounting resonance, differs per installation
    noise_g: float = 0.004  # broadband floor (g rms)
    hum_g: float = 0.003  # mains-frequency pick-up and magnetic 2x line (g)
    gravity_axis: int = 2  # which axis sees 1 g
    speed_variation: float = 0.01  # relative spread of the running speed between recordings (1 sigma)
    hum_harmonics: tuple[tuple[int, float], ...] = ((1, 1.0), (2, 0.7), (3, 0.3))  # (multiple of mains, relative amplitude)


@attrs.frozen
class Sensor:
    odr: float  # Hz
    lsb_g: float  # g per count
    axes: int = 3
    offset_g: Sequence[float] = (0.02, -0.015, 0.03)
    offset_tempco_g_per_c: float = 0.0002  # zero-g level change with temperature
    creep_g: float = 0.002  # zero-g level creep over one recording, on top of the temperature term
    oversample: int = 8
    range_g: float | None = None  # full scale: readings saturate at +-range_g (None: only the int16 limit)


Temperature = float | tuple[float, float]  # constant, or (start, end) of a linear ramp over the recording

FAULTS = ("normal", "bearing_outer", "bearing_inner", "imbalance", "looseness", "misalignment", "cavitation")


def _resonant_impulses(t: np.ndarray, rate_hz: float, resonance_hz: float, damping: float, amplitude: float,
                       rng: np.random.Generator, jitter: float = 0.01) -> np.ndarray:
    """Decaying resonance rings started at every impact, with small slip jitter between impacts."""
    fs = 1.0 / (t[1] - t[0])
    train = np.zeros_like(t)
    time = rng.uniform(0, 1 / rate_hz)
    while time < t[-1]:
        index = int(time * fs)
        if index < len(train):
            train[index] += 1.0
        time += (1 / rate_hz) * (1 + rng.normal(0, jitter))
    ring_t = np.arange(int(fs * 8 / (damping * resonance_hz) + 1)) / fs
    ring = np.exp(-damping * 2 * math.pi * resonance_hz * ring_t) * np.sin(2 * math.pi * resonance_hz * ring_t)
    return amplitude * np.convolve(train, ring)[: len(t)]


def acceleration(machine: Machine, fault: str, *, seconds: float, fs: float, axes: int, severity: float,
                 temperature_c: Temperature, rng: np.random.Generator) -> np.ndarray:
    """Physical acceleration in g, shape (n, axes), at rate fs."""
    n = round(seconds * fs)
    t = np.arange(n) / fs
    f1 = machine.shaft_hz * (1 + machine.speed_variation * rng.standard_normal())
    phase = rng.uniform(0, 2 * math.pi, size=8)
    out = np.zeros((n, axes))
    radial = [0, 1] if axes >= 2 else [0]

    # running: small residual unbalance and misalignment are always present
    base = 0.01 * np.sin(2 * math.pi * f1 * t + phase[0]) + 0.004 * np.sin(4 * math.pi * f1 * t + phase[1])
    for k, axis in enumerate(radial):
        out[:, axis] += base * (1 if k == 0 else 0.8) + 0.01 * np.sin(2 * math.pi * f1 * t + phase[0] + k * math.pi / 2)
    # mains hum and its second harmonic (magnetic forces at twice line frequency)
    for h, a in machine.hum_harmonics:
        out += machine.hum_g * a * np.sin(2 * math.pi * machine.mains_hz * h * t + phase[(2 + h) % len(phase)])[:, None]
    # broadband noise shaped by the mounting resonance
    noise = rng.normal(0, machine.noise_g, size=(n, axes))
    b, a = sp.iirpeak(min(machine.mounting_hz, fs / 2.5), 8, fs=fs)
    out += noise + 0.5 * sp.lfilter(b, a, noise, axis=0)

    if fault == "bearing_outer":
        hits = _resonant_impulses(t, machine.bearing.bpfo * f1, machine.resonance_hz, 0.05, 0.12 * severity, rng)
        out[:, radial[0]] += hits
        if axes > 1:
            out[:, 1] += 0.6 * hits
    elif fault == "bearing_inner":
        hits = _resonant_impulses(t, machine.bearing.bpfi * f1, machine.resonance_hz, 0.05, 0.12 * severity, rng)
        hits *= 1 + 0.8 * np.sin(2 * math.pi * f1 * t)  # the defect rotates through the load zone
        out[:, radial[0]] += hits
    elif fault == "imbalance":
        for k, axis in enumerate(radial):
            out[:, axis] += 0.08 * severity * np.sin(2 * math.pi * f1 * t + phase[0] + k * math.pi / 2)
    elif fault == "looseness":
        wave = np.zeros(n)
        for h in range(1, 10):
            wave += (0.05 / h) * severity * np.sin(2 * math.pi * h * f1 * t + phase[h % 8])
        wave += 0.02 * severity * np.sin(math.pi * f1 * t)  # half-order from rattling
        out[:, radial[0]] += np.clip(wave, -0.04 * severity, 0.06 * severity)  # truncated: one-sided clearance
    elif fault == "misalignment":
        axial = axes - 1
        out[:, axial] += 0.07 * severity * np.sin(4 * math.pi * f1 * t + phase[5]) + 0.03 * severity * np.sin(2 * math.pi * f1 * t)
    elif fault == "cavitation":
        bursts = rng.normal(0, 0.06 * severity, size=(n, axes))
        b, a = sp.butter(2, [0.3 * fs / 2, 0.9 * fs / 2], btype="band", fs=fs) if fs > 2000 else sp.butter(2, 0.6, btype="high")
        envelope = (rng.random(n) < 0.002).astype(float)
        envelope = np.convolve(envelope, np.ones(int(0.01 * fs) + 1), mode="same").clip(0, 1)
        out += sp.lfilter(b, a, bursts, axis=0) * (0.3 + envelope[:, None])
    elif fault != "normal":
        raise ValueError(f"unknown fault {fault}")

    if axes > machine.gravity_axis:
        out[:, machine.gravity_axis] += STANDARD_GRAVITY_G
    return out


def temperature_profile(temperature_c: Temperature, n: int) -> np.ndarray:
    """Temperature in C at each of n samples: constant, or a linear ramp (start, end)."""
    if isinstance(temperature_c, (tuple, list)):
        start, end = temperature_c
        return np.linspace(float(start), float(end), n)
    return np.full(n, float(temperature_c))


def zero_g_offset(sensor: Sensor, temperature: np.ndarray) -> np.ndarray:
    """Zero-g level in g per sample and axis: the offset at 25 C plus its temperature coefficient."""
    offset = np.asarray(sensor.offset_g[: sensor.axes], dtype=np.float64)
    return offset[None, :] + sensor.offset_tempco_g_per_c * (temperature[:, None] - 25.0)


def record(machine: Machine, sensor: Sensor, fault: str, *, seconds: float, severity: float = 1.0,
           temperature_c: Temperature = 25.0, seed: int = 0) -> np.ndarray:
    """What the sensor outputs: int16 counts (n, axes)."""
    rng = np.random.default_rng(seed)
    fs_internal = sensor.odr * sensor.oversample
    physical = acceleration(machine, fault, seconds=seconds, fs=fs_internal, axes=sensor.axes,
                            severity=severity, temperature_c=temperature_c, rng=rng)
    drift = zero_g_offset(sensor, temperature_profile(temperature_c, len(physical)))
    physical = physical + drift + np.linspace(0, 1, len(physical))[:, None] * sensor.creep_g
    b, a = sp.butter(1, sensor.odr / 2, fs=fs_internal)
    # the sensor was powered and settled before the recording starts: its filter begins at
    # the first value (gravity), not at zero, so no start-up step the signal never has
    filtered, _ = sp.lfilter(b, a, physical, axis=0, zi=sp.lfilter_zi(b, a)[:, None] * physical[:1])
    sampled = filtered[:: sensor.oversample]  # no further anti-alias filter: what the MEMS does
    counts = np.round(sampled / sensor.lsb_g)
    limit = 32767 if sensor.range_g is None else min(32767, math.floor(sensor.range_g / sensor.lsb_g))
    clipped: np.ndarray = np.clip(counts, -limit - 1, limit).astype(np.int16)
    return clipped


def sound(fault: str, *, seconds: float, fs: float, seed: int = 0, severity: float = 1.0) -> np.ndarray:
    """A machine-room microphone signal (full-scale fraction 1.0 = 32767 counts), shape (n, 1)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    hum = sum(0.02 / h * np.sin(2 * math.pi * 50 * h * t + rng.uniform(0, 6.3)) for h in range(1, 8))
    motor = 0.03 * np.sin(2 * math.pi * 148 * t) * (1 + 0.2 * np.sin(2 * math.pi * 2 * t))
    room = sp.lfilter(*sp.butter(2, 1500, fs=fs), rng.normal(0, 0.05, n))
    x = hum + motor + room
    if fault == "leak":
        hiss = sp.lfilter(*sp.butter(4, [2500, min(7000, fs / 2 - 100)], btype="band", fs=fs), rng.normal(0, 0.12 * severity, n))
        x = x + hiss
    elif fault == "valve_chatter":
        clicks = _resonant_impulses(t, 11.0, 1200.0, 0.04, 0.25 * severity, rng, jitter=0.05)
        x = x + clicks
    elif fault != "normal":
        raise ValueError(f"unknown sound {fault}")
    clipped: np.ndarray = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)[:, None]
    return clipped
