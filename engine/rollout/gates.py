"""Whether the next wave may start: every gate evaluated over what each site of a wave
reports (a SiteObservation, from the telemetry store or an observations file), as a pure
function of the plan, the observations and the time they were taken."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from engine.rollout.model import Gates
from engine.rollout.select import RolloutPlan

# a wave: done (its gates pass), start (the waves before it are done: send it the update now),
# hold, roll back, or not started (an earlier wave decides); the rollout: proceed, hold, roll back
DONE, START, HOLD, ROLL_BACK, NOT_STARTED, PROCEED = "done", "start", "hold", "roll back", "not started", "proceed"
GATES = ("updated", "no_rollback", "anomaly_rate", "fallback_windows", "battery", "last_seen", "soak")


@attrs.frozen
class SiteObservation:
    """What one site has reported since the update began (times in seconds, any epoch)."""

    site: str
    update_started_s: float | None  # when the site began running the update; None: not yet
    rollbacks: int = 0  # sanity-window rollbacks reported since then
    windows: int = 0  # classified windows since then
    anomalies: int = 0  # of those, windows that raised an anomaly
    fallback_windows: int = 0  # windows run on the CPU fallback
    battery_used_mah: float | None = None  # measured charge used since deployment
    battery_predicted_mah: float | None = None  # the power model's trajectory at the same age
    last_seen_s: float | None = None

    @property
    def anomaly_rate(self) -> float:
        return self.anomalies / self.windows if self.windows else 0.0


@attrs.frozen
class GateResult:
    gate: str
    passed: bool
    failing: tuple[tuple[str, str], ...] = ()  # (site, what was seen)


@attrs.frozen
class WaveStatus:
    wave: str
    sites: int
    decision: str  # done | start | hold | roll back | not started
    gates: tuple[GateResult, ...]
    reason: str


@attrs.frozen
class RolloutStatus:
    waves: tuple[WaveStatus, ...]
    decision: str  # of the rollout: proceed (the next wave may start, or all are done) | hold | roll back
    reason: str


def _wave_gates(sites: Sequence[str], observations: Mapping[str, SiteObservation], gates: Gates, soak_s: float,
                now_s: float) -> tuple[GateResult, ...]:
    seen = {site: observations.get(site) for site in sites}

    def check(name: str, bad: list[tuple[str, str]]) -> GateResult:
        failing = tuple((site, detail) for site, detail in bad)
        return GateResult(name, not failing, failing)

    updated = check("updated", [(s, "has not reported the update") for s, o in seen.items()
                                if o is None or o.update_started_s is None])
    live = {s: o for s, o in seen.items() if o is not None and o.update_started_s is not None}
    results = [
        updated,
        check("no_rollback", [(s, f"{o.rollbacks} rollback{'s' if o.rollbacks != 1 else ''} reported")
                              for s, o in live.items() if o.rollbacks > gates.max_rollbacks]),
        check("anomaly_rate", [(s, (f"anomaly rate {o.anomaly_rate:.3f} > {gates.max_anomaly_rate:g} "
                                   f"({o.anomalies} of {o.windows} windows)"))
                               for s, o in live.items() if o.anomaly_rate > gates.max_anomaly_rate]),
        check("fallback_windows", [(s, f"{o.fallback_windows} windows on the CPU fallback > {gates.max_fallback_windows}")
                                   for s, o in live.items() if o.fallback_windows > gates.max_fallback_windows]),
        check("battery", [(s, (f"{o.battery_used_mah:g} mAh used, {o.battery_predicted_mah:g} mAh predicted "
                              f"(+{gates.battery_margin:.0%} allowed)"))
                          for s, o in live.items()
                          if o.battery_used_mah is not None and o.battery_predicted_mah is not None
                          and o.battery_used_mah > o.battery_predicted_mah * (1 + gates.battery_margin)]),
        check("last_seen", [(s, "never heard" if o.last_seen_s is None else
                                f"silent for {(now_s - o.last_seen_s) / 3600:.1f} h")
                            for s, o in live.items()
                            if o.last_seen_s is None or now_s - o.last_seen_s > gates.max_silence_s]),
    ]
    started = [o.update_started_s for o in live.values() if o.update_started_s is not None]
    soaked = bool(started) and updated.passed and now_s - max(started) >= soak_s
    left = soak_s - (now_s - max(started)) if started else soak_s
    results.append(GateResult("soak", soaked, () if soaked else (("", f"{max(left, 0) / 3600:.1f} h of soak left"),)))
    return tuple(results)


_NONE = SiteObservation("", None)


def _describe(result: GateResult) -> str:
    sites = "; ".join(f"{site}: {detail}" if site else detail for site, detail in result.failing[:5])
    more = f" (and {len(result.failing) - 5} more)" if len(result.failing) > 5 else ""
    return f"gate {result.gate} fails: {sites}{more}"


def evaluate(plan: RolloutPlan, observations: Mapping[str, SiteObservation], now_s: float) -> RolloutStatus:
    """Walk the waves in order: a wave whose gates all pass lets the next one start; the
    first that does not decides (a reported rollback rolls the release back, anything else
    holds), and the waves after it have not started."""
    out = []
    decided = None
    for wave_plan in plan.waves:
        wave = wave_plan.wave
        if decided is not None:
            out.append(WaveStatus(wave.name, len(wave_plan.sites), NOT_STARTED, (), f"waits for wave {decided}"))
            continue
        begun = [s for s in wave_plan.sites if (observations.get(s) or _NONE).update_started_s is not None]
        if not begun and wave_plan.sites:
            out.append(WaveStatus(wave.name, len(wave_plan.sites), START, (),
                                  f"start wave {wave.name}: send the update to its {len(wave_plan.sites)} sites"))
            decided = wave.name
            continue
        results = _wave_gates(wave_plan.sites, observations, plan.rollout.gates, wave.soak_s, now_s)
        failed = [r for r in results if not r.passed]
        rollback = next((r for r in failed if r.gate == "no_rollback"), None)
        if rollback is not None:
            decision, reason = ROLL_BACK, _describe(rollback)
        elif failed:
            decision, reason = HOLD, _describe(failed[0])
        else:
            decision, reason = DONE, "every gate passes"
        out.append(WaveStatus(wave.name, len(wave_plan.sites), decision, results, reason))
        if decision != DONE:
            decided = wave.name
    stop = next((w for w in out if w.decision in (HOLD, ROLL_BACK, START)), None)
    if stop is None:
        return RolloutStatus(tuple(out), PROCEED, "every wave is done")
    if stop.decision == START:
        return RolloutStatus(tuple(out), PROCEED, stop.reason)
    return RolloutStatus(tuple(out), stop.decision, f"wave {stop.wave}: {stop.reason}")
