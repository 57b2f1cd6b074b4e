"""The preprocessing chain as template values: every number and name already C text.

`chain_context(chain)` is what templates/preprocess.*.j2 and templates/encode.*.j2 see as
`chain`. Values come out of engine.codegen.cnames (range-checked literals, mangled
identifiers, safe comments); the only other values are ints and bools the templates use
to choose code, and the fixed kind names of the stages.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from engine.codegen.cnames import c_array, c_comment, c_ident, c_int
from engine.dsp.chain import Chain, FrameSampler
from engine.dsp.encoders import MAX_COUNT, Encoder
from engine.dsp.features import MOMENT_BITS, Features
from engine.dsp.fixed import LOG2_TABLE_Q12
from engine.dsp.spectrum import FEATURE_FULL_SCALE, HEADROOM_BITS, BandEnergy, bit_reverse
from engine.dsp.stages import Biquads, DcBlock, Decimate, Envelope

SAMPLE_STAGE_KINDS = ("dc_block", "biquads", "decimate", "envelope")
FEATURE_FUNCTIONS = {"rms": "nm_rms", "peak": "nm_peak", "kurtosis": "nm_kurtosis"}  # in templates/preprocess.c.j2


def chain_context(chain: Chain) -> dict[str, Any]:
    stages = [_sample_stage(index, stage) for index, stage in enumerate(chain.sample_stages)]
    framer = _framer(chain.framer)
    encoder = _encoder(chain.encoder)
    uses = {kind: any(s["kind"] == kind for s in stages) for kind in SAMPLE_STAGE_KINDS}
    uses["fir"] = any(s["kind"] == "decimate" and s["taps"] for s in stages)
    return {
        "axes": c_int(chain.axes, "uint16_t"),
        "features": c_int(chain.n_features, "uint16_t"),
        "channels": c_int(chain.n_channels, "uint16_t"),
        "samples_per_step": c_int(chain.samples_per_frame(), "uint32_t"),
        "max_count": c_int(MAX_COUNT, "int32_t"),
        "layout_hash": c_int(layout_hash(chain), "uint32_t"),
        "stages": stages,
        "framer": framer,
        "encoder": encoder,
        "uses": uses,
    }


def layout_hash(chain: Chain) -> int:
    """32 bits of SHA-256 over the chain's shape and coefficients: firmware built for one
    chain refuses to link or run against state laid out for another."""
    digest = hashlib.sha256()
    digest.update(f"axes={chain.axes};features={chain.n_features};channels={chain.n_channels};".encode())
    for name, values in chain.coefficients().items():
        digest.update(name.encode() + b"=" + np.asarray(values, dtype="<i8").tobytes() + b";")
    return int.from_bytes(digest.digest()[:4], "little")


def _member(index: int) -> str:
    return c_ident(f"stage{index}")


def _sample_stage(index: int, stage: Any) -> dict[str, Any]:
    base = {"index": index, "member": _member(index)}
    if isinstance(stage, DcBlock):
        return {**base, "kind": "dc_block", "pole": c_int(stage.pole, "int32_t"),
                "label": c_comment(f"stage {index} '{stage.id}': DC block, pole {stage.pole} (Q30)")}
    if isinstance(stage, Biquads):
        flat = [v for section in stage.sections for v in section]
        return {**base, "kind": "biquads", "sections": len(stage.sections),
                "n_sections": c_int(len(stage.sections), "uint16_t"),
                "coefficients": c_array(flat, "int32_t", per_line=5),
                "table": c_ident(f"stage{index}_sos"),
                "label": c_comment(f"stage {index} '{stage.id}': {stage.kind}, {len(stage.sections)} biquads "
                                   "(b0 b1 b2 a1 a2, Q28)")}
    if isinstance(stage, Decimate):
        fir = f", after a {len(stage.taps)}-tap FIR" if stage.taps else ""
        return {**base, "kind": "decimate", "factor": c_int(stage.factor, "uint16_t"), "taps": bool(stage.taps),
                "n_taps": c_int(len(stage.taps), "uint16_t"), "coefficients": c_array(stage.taps, "int32_t"),
                "table": c_ident(f"stage{index}_fir"),
                "label": c_comment(f"stage {index} '{stage.id}': keep 1 sample in {stage.factor}{fir}")}
    if isinstance(stage, Envelope):
        return {**base, "kind": "envelope", "gain": c_int(stage.gain, "int32_t"),
                "label": c_comment(f"stage {index} '{stage.id}': envelope, gain {stage.gain} (Q15)")}
    raise TypeError(f"no C for sample stage {type(stage).__name__}")


def _framer(framer: Any) -> dict[str, Any]:
    if isinstance(framer, BandEnergy):
        log2_fft = framer.fft.bit_length() - 1
        return {"kind": "band_energy", "fft": c_int(framer.fft, "uint16_t"), "log2_fft": c_int(log2_fft, "uint16_t"),
                "half": c_int(framer.fft // 2, "uint16_t"), "hop": c_int(framer.hop, "uint16_t"),
                "bands": c_int(framer.bands, "uint16_t"), "combine_axes": bool(framer.combine_axes),
                "window": c_array(framer.window, "int16_t"),
                "twiddle_re": c_array(framer.twiddle_re, "int16_t"),
                "twiddle_im": c_array(framer.twiddle_im, "int16_t"),
                "bin_band": c_array(framer.bin_band, "int16_t"),
                "bit_reverse": c_array(bit_reverse(framer.fft), "uint16_t"),
                "headroom_bits": c_int(HEADROOM_BITS, "int32_t"),
                "log2_table": c_array(LOG2_TABLE_Q12, "int16_t"),
                "label": c_comment(f"'{framer.id}': {framer.fft}-point FFT every {framer.hop} samples, "
                                   f"{framer.bands} bands{', axes combined' if framer.combine_axes else ''}")}
    if isinstance(framer, Features):
        return {"kind": "features", "hop": c_int(framer.hop, "uint16_t"), "kinds": list(framer.kinds),
                "functions": [FEATURE_FUNCTIONS[k] for k in framer.kinds],
                "n_kinds": c_int(len(framer.kinds), "uint16_t"), "moment_bits": c_int(MOMENT_BITS, "int32_t"),
                "full_scale": c_int(FEATURE_FULL_SCALE, "int32_t"),
                "label": c_comment(f"'{framer.id}': {', '.join(framer.kinds)} of every {framer.hop} samples")}
    if isinstance(framer, FrameSampler):
        return {"kind": "frames", "hop": c_int(framer.hop, "uint16_t"),
                "label": c_comment(f"'{framer.id}': |x| at the last of every {framer.hop} samples")}
    raise TypeError(f"no C for framer {type(framer).__name__}")


def _encoder(encoder: Encoder) -> dict[str, Any]:
    kind = {"delta": "delta", "sigma_delta": "sigma_delta", "rate": "sigma_delta", "threshold": "threshold"}[encoder.kind]
    return {"kind": kind, "step": c_int(encoder.step, "int32_t"), "split": bool(encoder.split),
            "label": c_comment(f"'{encoder.id}': {encoder.kind} encoding, step {encoder.step}"
                               f"{', split polarity' if encoder.split else ''}")}
