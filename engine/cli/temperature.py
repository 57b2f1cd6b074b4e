"""The accuracy over temperature of an analog target, as the lines `verify` prints."""

from __future__ import annotations

from typing import Any


def temperature_lines(t: dict[str, Any]) -> list[str]:
    """From a verification summary's `temperature` (engine/verify/drift.py)."""
    if "note" in t:
        return [f"accuracy over temperature: not run ({t['note']})"]
    assumed = (f"; ASSUMED drift figures ({', '.join(t['assumed_figures'])}): nothing published for the "
               f"{t['chip']} backs them") if t["assumed_figures"] else ""
    mismatch = t["mismatch_accuracy"]
    lines = [(f"accuracy over temperature (Monte Carlo: {t['chips']} chips, seed {t['seed']}, {t['windows']} windows"
              f"{assumed}):"),
             (f"  at {t['reference_C']:g} C: {t['nominal_accuracy']:.1%} without mismatch, mismatch alone "
              f"{mismatch['mean']:.1%} (worst chip {mismatch['worst']:.1%})")]
    head = "  band            uncompensated (mean / worst)"
    lines.append(head + ("   compensated (mean / worst)   agreement compensated" if t["compensated"] else
                         "   agreement with nominal"))
    for b in t["bands"]:
        span = f"{b['low_C']:g} C to {b['high_C']:g} C"
        plain = f"{b['accuracy']['mean']:6.1%} / {b['accuracy']['worst']:6.1%}"
        if t["compensated"]:
            comp = f"{b['compensated_accuracy']['mean']:6.1%} / {b['compensated_accuracy']['worst']:6.1%}"
            lines.append(f"  {span:<16}{plain:<33}{comp:<29}{b['compensated_agreement']['mean']:.1%}")
        else:
            lines.append(f"  {span:<16}{plain:<33}{b['agreement']['mean']:.1%}")
    worst = t["worst_band"]
    text = f"  worst band: uncompensated {worst['uncompensated']['accuracy']['mean']:.1%}"
    if "compensated" in worst:
        text += f", compensated {worst['compensated']['accuracy']['mean']:.1%}"
    lines.append(text + f" (hysteresis {t['hysteresis_K']:g} K)")
    return lines
