"""Spike encoders: integer features per model step -> spike counts per input channel.

Counts are capped at MAX_COUNT per channel and step (the Xylo input limit; other
targets accept it too). Thresholds are fractions of the feature full scale.
  delta        reference r starts at 0; each step emits floor(|f - r| / T) spikes (capped)
               up or down and moves r by that many T. split: channels (up, down) per feature.
  sigma_delta  acc += f; emit floor(acc / T) (capped); acc -= emitted * T, and what the cap
               left above T - 1 is dropped: a rate code whose accumulator stays below T
               (a saturated channel stops when its input falls; the C state fits int32).
  rate         sigma_delta with T chosen so full scale gives max_rate.
  threshold    one spike in each step where f >= T. split: (f >= T, f < T).
"""

from __future__ import annotations

import attrs
import numpy as np

from engine.dsp.spectrum import FEATURE_FULL_SCALE
from engine.dsp.stages import ChainError

MAX_COUNT = 15


@attrs.frozen
class Encoder:
    id: str
    kind: str
    step: int  # T in feature units
    split: bool

    @classmethod
    def design(cls, id: str, *, kind: str, threshold: float | None, max_rate: float | None, polarity: str,
               dt: float) -> Encoder:
        split = polarity == "split"
        if kind == "rate":
            if not max_rate:
                raise ChainError(id, "rate encoding needs max_rate", "max_rate")
            step = max(1, round(float(FEATURE_FULL_SCALE / (max_rate * dt))))
        else:
            if not threshold:
                raise ChainError(id, f"{kind} encoding needs a threshold", "threshold")
            step = max(1, round(float(threshold * FEATURE_FULL_SCALE)))
        if split and kind in ("sigma_delta", "rate"):
            raise ChainError(id, f"polarity split applies to delta and threshold encoding, not {kind}", "polarity")
        return cls(id, kind, step, split)

    def n_channels(self, features: int) -> int:
        return features * 2 if self.split else features

    def coefficients(self) -> np.ndarray:
        kinds = {"delta": 0, "sigma_delta": 1, "rate": 1, "threshold": 2}
        return np.array([kinds[self.kind], self.step, int(self.split), MAX_COUNT], dtype=np.int32)

    def run(self, features: np.ndarray) -> np.ndarray:
        """(windows, frames, features) int64 -> (windows, frames, channels) uint8."""
        windows, frames, n = features.shape
        T = self.step
        if self.kind == "threshold":
            above = (features >= T).astype(np.uint8)
            if not self.split:
                return above
            return np.stack([above, 1 - above], axis=-1).reshape(windows, frames, 2 * n)
        out = np.zeros((windows, frames, self.n_channels(n)), dtype=np.uint8)
        state = np.zeros((windows, n), dtype=np.int64)
        for t in range(frames):
            f = features[:, t, :]
            if self.kind == "delta":
                d = f - state
                up = np.minimum(np.maximum(d, 0) // T, MAX_COUNT)
                down = np.minimum(np.maximum(-d, 0) // T, MAX_COUNT)
                state = state + up * T - down * T
                if self.split:
                    out[:, t, 0::2] = up
                    out[:, t, 1::2] = down
                else:
                    out[:, t, :] = np.minimum(up + down, MAX_COUNT)
            else:
                state = state + f
                count = np.clip(state // T, 0, MAX_COUNT)
                state = np.minimum(state - count * T, T - 1)
                out[:, t, :] = count
        return out
