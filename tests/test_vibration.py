"""The vibration generator's physics, checked numerically with scipy's spectral tools as the
independent reference: defect frequencies, envelope spectra, mains lines, drift, aliasing,
quantization and the mounting resonance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal as sp

from engine.dsp import vibration as vib

FS = 1600.0
LSB = 0.000488
SHAFT = 23.5  # harmonics fall on whole bins and clear of the mains lines
SECONDS = 8.0  # 0.125 Hz bins
BIN = 1 / SECONDS


def steady(**kw) -> vib.Machine:
    return vib.Machine(shaft_hz=SHAFT, speed_variation=0.0, **kw)


SENSOR = vib.Sensor(odr=FS, lsb_g=LSB, range_g=4.0)


def g(machine, fault, *, seconds=SECONDS, seed=3, sensor=SENSOR, **kw) -> np.ndarray:
    return vib.record(machine, sensor, fault, seconds=seconds, seed=seed, **kw).astype(np.float64) * sensor.lsb_g


def amplitude_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x - x.mean()
    return np.fft.rfftfreq(len(x), 1 / FS), np.abs(np.fft.rfft(x)) * 2 / len(x)


def envelope_spectrum(x: np.ndarray, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass around the excited resonance, Hilbert envelope, spectrum of the envelope."""
    b, a = sp.butter(4, band, btype="band", fs=FS)
    envelope = np.abs(sp.hilbert(sp.filtfilt(b, a, x)))
    return amplitude_spectrum(envelope)


def at(freqs: np.ndarray, spectrum: np.ndarray, hz: float, width: int = 1) -> float:
    i = int(np.argmin(np.abs(freqs - hz)))
    return float(spectrum[i - width : i + width + 1].max())


def test_defect_orders_match_the_published_6205_values():
    # SKF 6205 geometry; defect orders as tabulated by the Case Western Reserve University
    # Bearing Data Center for its drive-end bearing: 3.5848, 5.4152, 0.39828, 4.7135 / 2.
    bearing = vib.Bearing(balls=9, ball_diameter=7.94e-3, pitch_diameter=39.04e-3)
    assert bearing.bpfo == pytest.approx(3.5848, abs=1e-4)
    assert bearing.bpfi == pytest.approx(5.4152, abs=1e-4)
    assert bearing.ftf == pytest.approx(0.39828, abs=1e-4)
    assert bearing.bsf == pytest.approx(4.7135 / 2, abs=1e-4)
    assert bearing.bpfo + bearing.bpfi == pytest.approx(9)  # n balls pass one race or the other


def test_contact_angle_moves_the_defect_frequencies_towards_n_over_2():
    flat = vib.Bearing()
    angled = vib.Bearing(contact_angle=math.radians(40))
    assert flat.bpfo < angled.bpfo < 4.5 < angled.bpfi < flat.bpfi


def test_outer_race_fault_envelope_peaks_at_bpfo():
    machine = steady()
    x = g(machine, "bearing_outer")[:, 0]
    freqs, spectrum = envelope_spectrum(x, (200.0, 400.0))
    band = (freqs > 10) & (freqs < 200)
    peak = freqs[band][np.argmax(spectrum[band])]
    assert abs(peak - machine.bearing.bpfo * SHAFT) <= BIN


def test_inner_race_fault_is_modulated_at_shaft_speed():
    machine = steady()
    x = g(machine, "bearing_inner")[:, 0]
    freqs, spectrum = envelope_spectrum(x, (200.0, 400.0))
    floor = float(np.median(spectrum[(freqs > 10) & (freqs < 200)]))
    bpfi = machine.bearing.bpfi * SHAFT
    window = np.abs(freqs - bpfi) < 2
    assert abs(freqs[window][np.argmax(spectrum[window])] - bpfi) <= BIN
    assert at(freqs, spectrum, bpfi) > 20 * floor
    # the defect passes through the load zone once a revolution: sidebands at BPFI -+ 1x
    assert at(freqs, spectrum, bpfi - SHAFT, 2) > 3 * floor
    assert at(freqs, spectrum, bpfi + SHAFT, 2) > 3 * floor
    # and the modulation itself shows at 1x
    assert at(freqs, spectrum, SHAFT) > 20 * floor


def test_outer_race_fault_is_not_modulated():
    machine = steady()
    normal_freqs, normal = envelope_spectrum(g(machine, "normal")[:, 0], (200.0, 400.0))
    freqs, outer = envelope_spectrum(g(machine, "bearing_outer")[:, 0], (200.0, 400.0))
    bpfo = machine.bearing.bpfo * SHAFT
    assert at(freqs, outer, bpfo) > 50 * at(normal_freqs, normal, bpfo)
    assert at(freqs, outer, SHAFT) < 0.1 * at(freqs, outer, bpfo)


def test_imbalance_raises_1x_with_radial_axes_in_quadrature():
    machine = steady()
    freqs, normal = amplitude_spectrum(g(machine, "normal")[:, 0])
    x = g(machine, "imbalance")
    _, faulty = amplitude_spectrum(x[:, 0])
    assert at(freqs, faulty, SHAFT, 0) > 4 * at(freqs, normal, SHAFT, 0)
    k = round(SHAFT * SECONDS)
    phase = np.angle(np.fft.rfft(x[:, 1] - x[:, 1].mean())[k] / np.fft.rfft(x[:, 0] - x[:, 0].mean())[k])
    assert abs(abs(math.degrees(phase)) - 90) < 10
    assert at(freqs, faulty, 3 * SHAFT, 0) < 0.05 * at(freqs, faulty, SHAFT, 0)


def test_looseness_shows_harmonics_and_a_half_order():
    machine = steady()
    freqs, normal = amplitude_spectrum(g(machine, "normal")[:, 0])
    _, loose = amplitude_spectrum(g(machine, "looseness")[:, 0])
    for order in (0.5, 3, 4, 5, 6):
        assert at(freqs, loose, order * SHAFT, 0) > 5 * at(freqs, normal, order * SHAFT, 0), order


def test_mains_hum_lines_at_mains_harmonics_only():
    machine = steady(noise_g=0.001, mains_hz=50.0)
    freqs, power = sp.welch(g(machine, "normal")[:, 2], fs=FS, nperseg=1600)
    floor = float(np.median(power[(freqs > 30) & (freqs < 400)]))
    for hz in (50, 100, 150):
        assert power[np.argmin(np.abs(freqs - hz))] > 500 * floor, hz
    assert power[np.argmin(np.abs(freqs - 200))] < 5 * floor


def test_sixty_hertz_mains():
    machine = steady(noise_g=0.001, mains_hz=60.0)
    freqs, power = sp.welch(g(machine, "normal")[:, 2], fs=FS, nperseg=1600)
    floor = float(np.median(power[(freqs > 30) & (freqs < 400)]))
    assert power[60] > 500 * floor and power[120] > 500 * floor and power[50] < 5 * floor


def test_zero_g_level_follows_temperature_at_the_tempco():
    machine = steady()
    temperatures = np.array([-20.0, 25.0, 85.0])
    means = np.array([g(machine, "normal", seconds=2.0, seed=1, temperature_c=t).mean(axis=0) for t in temperatures])
    for axis in range(3):
        slope = np.polyfit(temperatures, means[:, axis], 1)[0]
        assert slope == pytest.approx(SENSOR.offset_tempco_g_per_c, abs=2 * LSB / 105)
    assert means[1, 2] == pytest.approx(1.0 + SENSOR.offset_g[2] + SENSOR.creep_g / 2, abs=2 * LSB)


def test_temperature_ramp_drifts_the_offset_within_a_recording():
    machine = steady()
    x = g(machine, "normal", temperature_c=(-20.0, 80.0), seed=1)
    temperature = vib.temperature_profile((-20.0, 80.0), len(x))
    slope = np.polyfit(temperature, x[:, 2], 1)[0]
    # the tempco plus the recording's creep, spread over the same 100 C
    assert slope == pytest.approx(SENSOR.offset_tempco_g_per_c + SENSOR.creep_g / 100, rel=0.03)


def test_energy_above_nyquist_aliases_through_the_sensor_filter():
    # a 19th mains harmonic at 950 Hz, above the 800 Hz Nyquist frequency
    machine = steady(noise_g=0.0005, hum_g=0.05, hum_harmonics=((19, 1.0),))
    x = g(machine, "normal", seconds=4.0)[:, 2]
    freqs, spectrum = amplitude_spectrum(x)
    band = freqs > 100
    assert freqs[band][np.argmax(spectrum[band])] == pytest.approx(FS - 950.0, abs=0.25)
    # the amplitude is what the sensor's first-order low-pass at ODR/2 leaves at 950 Hz
    b, a = sp.butter(1, FS / 2, fs=FS * SENSOR.oversample)
    _, response = sp.freqz(b, a, worN=[950.0], fs=FS * SENSOR.oversample)
    assert at(freqs, spectrum, 650.0, 0) == pytest.approx(0.05 * abs(response[0]), rel=0.03)


def test_a_resonance_above_nyquist_appears_at_its_alias():
    machine = steady(resonance_hz=1100.0)
    freqs, power = sp.welch(g(machine, "bearing_outer", seconds=4.0)[:, 0], fs=FS, nperseg=512)
    peak = freqs[np.argmax(power * (freqs > 350))]
    assert 445 < peak < 555  # 1600 - 1100 = 500 Hz, within the ring's half-power width


def test_mounting_resonance_differs_per_installation():
    for mounting in (180.0, 260.0):
        machine = steady(mounting_hz=mounting, noise_g=0.01, hum_g=0.0)
        freqs, power = sp.welch(g(machine, "normal")[:, 0], fs=FS, nperseg=800)
        band = (freqs > 100) & (freqs < 500)
        assert abs(freqs[band][np.argmax(power[band])] - mounting) <= 6, mounting


def test_counts_are_quantized_and_saturate_at_full_scale():
    sensor = vib.Sensor(odr=FS, lsb_g=LSB, range_g=0.5)
    counts = vib.record(steady(), sensor, "normal", seconds=1.0, seed=0)
    assert counts.dtype == np.int16
    assert counts[:, 2].max() == math.floor(0.5 / LSB)  # 1 g on the gravity axis clips
    assert np.all(np.abs(counts[:, 0]) < 200)
    fine = vib.record(steady(), SENSOR, "normal", seconds=1.0, seed=0)
    coarse = vib.record(steady(), vib.Sensor(odr=FS, lsb_g=4 * LSB, range_g=4.0), "normal", seconds=1.0, seed=0)
    # the same physical signal at a quarter of the resolution: within one coarse step
    assert np.max(np.abs(fine.astype(float) * LSB - coarse.astype(float) * 4 * LSB)) <= 2.5 * LSB + 1e-12


def test_seeded_and_parameterised():
    a = vib.record(steady(), SENSOR, "bearing_outer", seconds=1.0, seed=11)
    assert np.array_equal(a, vib.record(steady(), SENSOR, "bearing_outer", seconds=1.0, seed=11))
    assert not np.array_equal(a, vib.record(steady(), SENSOR, "bearing_outer", seconds=1.0, seed=12))
    assert a.shape == (1600, 3)


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault rust"):
        vib.record(steady(), SENSOR, "rust", seconds=0.1)
