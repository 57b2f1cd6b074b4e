"""A spec's preprocessing list as a fixed-point chain: samples -> features -> spikes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from engine.dsp.encoders import Encoder
from engine.dsp.features import Features
from engine.dsp.spectrum import BandEnergy
from engine.dsp.stages import ChainError, DcBlock, Decimate, Envelope, butterworth, notch

MAX_STEP_SAMPLES = 65535  # the C counts a step's samples in 16 bits


@attrs.frozen
class FrameSampler:
    """Without band_energy: one frame per model step is |x| at the step's last sample."""

    id: str
    hop: int

    def n_features(self, axes: int) -> int:
        return axes

    def coefficients(self) -> np.ndarray:
        return np.array([self.hop], dtype=np.int32)

    def run(self, x: np.ndarray) -> np.ndarray:
        count = x.shape[1] // self.hop
        sampled: np.ndarray = np.abs(x[:, self.hop - 1 : count * self.hop : self.hop, :]).astype(np.int64)
        return sampled

    def run_float(self, x: np.ndarray) -> np.ndarray:
        return self.run(x).astype(np.float64)


@attrs.frozen
class Chain:
    sample_stages: tuple[Any, ...]  # DcBlock | Biquads | Decimate | Envelope, in order
    framer: BandEnergy | Features | FrameSampler
    encoder: Encoder
    axes: int
    sample_rate: float
    dt: float
    decimation: int

    @property
    def n_features(self) -> int:
        return self.framer.n_features(self.axes)

    @property
    def n_channels(self) -> int:
        return self.encoder.n_channels(self.n_features)

    @property
    def frame_rate(self) -> float:
        return 1.0 / self.dt

    def samples_per_frame(self) -> int:
        return self.framer.hop * self.decimation

    def coefficients(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for stage in self.sample_stages:
            out[f"{stage.id}"] = stage.coefficients()
        framer = self.framer.coefficients()
        if isinstance(framer, dict):
            out.update({f"{self.framer.id}.{k}": v for k, v in framer.items()})
        else:
            out[self.framer.id] = framer
        out[self.encoder.id] = self.encoder.coefficients()
        return dict(sorted(out.items()))

    def _batch(self, samples: np.ndarray) -> tuple[np.ndarray, bool]:
        samples = np.asarray(samples)
        single = samples.ndim == 2
        batch = samples[None] if single else samples
        if batch.ndim != 3 or batch.shape[2] != self.axes:
            raise ValueError(f"samples must be (n, {self.axes}) or (windows, n, {self.axes}), got {samples.shape}")
        return batch.astype(np.int64), single

    def conditioned(self, samples: np.ndarray) -> np.ndarray:
        batch, _ = self._batch(samples)
        for stage in self.sample_stages:
            batch = stage.run(batch)
        return batch

    def features(self, samples: np.ndarray) -> np.ndarray:
        batch, single = self._batch(samples)
        for stage in self.sample_stages:
            batch = stage.run(batch)
        features = self.framer.run(batch)
        return features[0] if single else features

    def run(self, samples: np.ndarray) -> np.ndarray:
        """int16 samples (n, axes) or (windows, n, axes) -> spike counts (frames, channels)
        or (windows, frames, channels), uint8."""
        batch, single = self._batch(samples)
        features = self.features(batch)
        spikes = self.encoder.run(features)
        return spikes[0] if single else spikes

    def features_float(self, samples: np.ndarray) -> np.ndarray:
        batch, single = self._batch(samples)
        x = batch.astype(np.float64)
        for stage in self.sample_stages:
            x = stage.run_float(x)
        features = self.framer.run_float(x)
        return features[0] if single else features


def _param(stage: Mapping[str, Any], name: str, default: Any = None) -> Any:
    value = stage.get(name, default)
    return default if value is None else value


def build_chain(stages: Sequence[Mapping[str, Any]], *, sample_rate: float, mains: float, axes: int,
                dt: float) -> Chain:
    """Stages as the spec lists them, parameters in SI: [{"kind": "notch", "id": "mains",
    "freq": 50.0, ...}, ...]. Raises ChainError naming the stage and parameter at fault."""
    fs = float(sample_rate)
    decimation = 1
    sample_stages: list[Any] = []
    framer: BandEnergy | Features | FrameSampler | None = None
    encoder: Encoder | None = None
    for stage in stages:
        kind, sid = stage["kind"], stage.get("id") or stage["kind"]
        if encoder is not None:
            raise ChainError(sid, "the encode stage must be the last stage")
        if framer is not None and kind != "encode":
            raise ChainError(sid, f"{framer.id} must be followed directly by encode")
        if kind == "dc_block":
            sample_stages.append(DcBlock.design(sid, _param(stage, "cutoff", 1.0), fs))
        elif kind == "notch":
            sample_stages.append(notch(sid, _param(stage, "freq", mains), int(_param(stage, "harmonics", 1)),
                                       float(_param(stage, "q", 30.0)), fs))
        elif kind in ("lowpass", "highpass"):
            sample_stages.append(butterworth(sid, kind, stage["cutoff"], int(_param(stage, "order", 4 if kind == "lowpass" else 2)), fs))
        elif kind == "decimate":
            factor = int(stage["factor"])
            sample_stages.append(Decimate.design(sid, factor, int(_param(stage, "taps", 0))))
            fs /= factor
            decimation *= factor
        elif kind == "envelope":
            sample_stages.append(Envelope.design(sid, stage["cutoff"], fs))
        elif kind == "band_energy":
            framer = BandEnergy.design(sid, fft=int(_param(stage, "fft", 256)), bands=int(stage["bands"]),
                                       fmin=float(_param(stage, "fmin", 0.0)), fmax=stage.get("fmax"),
                                       spacing=_param(stage, "spacing", "linear"),
                                       combine_axes=bool(_param(stage, "combine_axes", False)), fs=fs, dt=dt)
        elif kind == "features":
            framer = Features.design(sid, kinds=stage.get("kinds"), fs=fs, dt=dt)
        elif kind == "encode":
            if framer is None:
                hop = round(float(fs * dt))
                if hop < 1 or abs(hop - fs * dt) > 0.01 * fs * dt:
                    raise ChainError(sid, f"the sample rate here ({fs:g}Hz) times model.dt ({dt:g}s) is not a whole number of samples")
                if hop > MAX_STEP_SAMPLES:
                    raise ChainError(sid, f"{hop} samples per model step; the firmware counts at most {MAX_STEP_SAMPLES} (decimate first)")
                framer = FrameSampler("frames", hop)
            encoder = Encoder.design(sid, kind=_param(stage, "encoding", "delta"), threshold=stage.get("threshold"),
                                     max_rate=stage.get("max_rate"), polarity=_param(stage, "polarity", "split"), dt=dt)
        else:
            raise ChainError(sid, f"unknown stage kind '{kind}'")
    if encoder is None or framer is None:
        raise ChainError("preprocessing", "the chain must end with an encode stage")
    return Chain(tuple(sample_stages), framer, encoder, axes, float(sample_rate), dt, decimation)
