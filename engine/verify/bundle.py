"""`nmspec verify`: the image read back from its bytes, run by the kernel on the spec's
stimuli, against the float reference of the source model."""

from __future__ import annotations

from typing import Any

import attrs

from engine.diagnostics import Diagnostic
from engine.image import read_image
from engine.verify.agreement import Agreement, check_agreement


@attrs.frozen(eq=False)
class Verification:
    agreement: Agreement | None
    min_agreement: float
    image_bytes: int
    diagnostics: tuple[Diagnostic, ...]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image_bytes": self.image_bytes, "min_agreement": self.min_agreement,
                               "passed": not any(d.severity == "error" for d in self.diagnostics)}
        if self.agreement is not None:
            a = self.agreement
            out.update({
                "windows": a.windows, "agreement": a.agreement, "kernel_accuracy": a.kernel_accuracy,
                "float_accuracy": a.float_accuracy, "detection_rate": a.detection_rate,
                "false_alarm_rate": a.false_alarm_rate, "float_detection_rate": a.float_detection_rate,
                "float_false_alarm_rate": a.float_false_alarm_rate,
                "spike_count_correlation": list(a.correlation), "deterministic": a.deterministic,
                "synaptic_ops": a.synaptic_ops, "steps": a.steps,
            })
        return out


def verify_bundle(doc, image: bytes, chain, float_model, stimuli) -> Verification:
    contents = read_image(image)
    minimum = float((doc.data.get("verify") or {}).get("min_agreement", 0.99))
    if stimuli is None:
        return Verification(None, minimum, len(image), (Diagnostic("warning", "NM801", "verify.stimuli: none given; only the image round trip was checked"),))
    agreement = check_agreement(contents.network, float_model, chain, stimuli)
    problems = []
    if agreement.agreement < minimum:
        problems.append(doc.at("/verify/min_agreement", "NM802",
                               f"verify: the kernel agrees with the float model on {agreement.agreement:.1%} of "
                               f"{agreement.windows} windows, below min_agreement {minimum:g}",
                               hint="look at the quantization report; raise headroom or use per_channel granularity"))
    if not agreement.deterministic:
        problems.append(Diagnostic("error", "NM803", "verify: two kernel runs of the same input differ"))
    return Verification(agreement, minimum, len(image), tuple(problems))
