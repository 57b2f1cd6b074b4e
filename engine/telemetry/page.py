"""The fleet at a glance as static files: one index.html (status counts, a table of every
site, and per site the battery measured against the power model and the anomaly uplinks per
day, as inline SVG) and a status.json beside it. No external assets, deterministic bytes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jinja2

from engine.telemetry.render import fleet_data, to_json, when
from engine.telemetry.status import DAY_MS, STATES, FleetStatus, SiteStatus

W, H, PAD = 220, 64, 4


def _scale(values: Sequence[float], low: float, high: float, size: float, flip: bool = False) -> list[float]:
    span = (high - low) or 1.0
    out = [(v - low) / span * (size - 2 * PAD) + PAD for v in values]
    return [size - v for v in out] if flip else out


def battery_svg(s: SiteStatus) -> str:
    """Charge used over time: the node's readings (line) against the power model from the
    first reading on (dashed), with the model's stated uncertainty as a band."""
    series = s.charge_series
    if len(series) < 2:
        return f'<svg class="plot" width="{W}" height="{H}" role="img" aria-label="no battery readings"></svg>'
    t0, c0 = series[0]
    t_end = series[-1][0]
    rate = s.battery.predicted_current_a / 3_600_000  # Ah per ms
    u = s.battery.uncertainty
    predicted_end = c0 + rate * (t_end - t0)
    top = max(max(c for _, c in series), c0 + rate * (1 + u) * (t_end - t0))
    xs = _scale([t for t, _ in series] + [t0, t_end], t0, t_end, W)
    ys = _scale([c for _, c in series], c0, top, H, flip=True)
    band = _scale([c0, c0 + rate * (1 + u) * (t_end - t0), c0 + rate * (1 - u) * (t_end - t0), predicted_end], c0, top,
                  H, flip=True)
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    x0, x1 = xs[-2], xs[-1]
    return (f'<svg class="plot" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
            f'aria-label="charge used, measured against predicted">'
            f'<polygon class="band" points="{x0:.1f},{band[0]:.1f} {x1:.1f},{band[1]:.1f} {x1:.1f},{band[2]:.1f}"/>'
            f'<line class="predicted" x1="{x0:.1f}" y1="{band[0]:.1f}" x2="{x1:.1f}" y2="{band[3]:.1f}"/>'
            f'<polyline class="measured" points="{line}"/></svg>')


def anomaly_svg(s: SiteStatus, now_ms: int, days: int = 30) -> str:
    """Anomaly uplinks per day over the last `days` days."""
    first = (now_ms // DAY_MS - days + 1) * DAY_MS
    counts = dict(s.anomaly_series)
    values = [counts.get(first + i * DAY_MS, 0) for i in range(days)]
    top = max(max(values), 1)
    bar = (W - 2 * PAD) / days
    rects = "".join(
        f'<rect x="{PAD + i * bar:.1f}" y="{H - PAD - v / top * (H - 2 * PAD):.1f}" width="{bar * 0.8:.1f}" '
        f'height="{v / top * (H - 2 * PAD):.1f}"/>' for i, v in enumerate(values) if v)
    return (f'<svg class="plot bars" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
            f'aria-label="anomaly uplinks per day, peak {top}">{rects}</svg>')


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fleet status at {{ now }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
.counts { display: flex; gap: 1em; margin: 1em 0; }
.count { padding: .6em 1em; border-radius: 6px; border: 1px solid #ccc; cursor: pointer; }
.count b { font-size: 1.6em; display: block; }
.Synced { background: #e6f4ea; } .OutOfSync { background: #fff4e0; }
.Degraded { background: #fde8e8; } .Silent { background: #ececec; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plot { background: #fafafa; border: 1px solid #eee; }
.plot .measured { fill: none; stroke: #1a5fb4; stroke-width: 1.5; }
.plot .predicted { stroke: #555; stroke-dasharray: 4 3; }
.plot .band { fill: #99999933; }
.bars rect { fill: #c01c28; }
tr.hidden { display: none; }
</style>
</head>
<body>
<h1>Fleet status</h1>
<p>{{ sites|length }} sites at {{ now }}; desired state from {{ revisions }}.
Battery: charge used as the node's gauge reports it (line) against the power model from the first reading
(dashed, the band is the model's stated uncertainty). Anomalies: uplinks per day, last 30 days.</p>
<div class="counts">
{% for state in states %}<div class="count {{ state }}" data-state="{{ state }}"><b>{{ counts[state] }}</b>{{ state }}</div>
{% endfor %}</div>
<table id="sites">
<thead><tr><th>site</th><th>state</th><th>reasons</th><th>model (desired)</th><th>slot</th><th>last seen</th>
<th>anomalies/day</th><th>current, measured / predicted</th><th>life, projected / predicted</th>
<th>battery</th><th>anomalies</th></tr></thead>
<tbody>
{% for s in sites %}<tr class="{{ s.state }}" data-state="{{ s.state }}">
<td>{{ s.site }}</td><td>{{ s.state }}{% if s.since %}<br><small>since {{ s.since }}</small>{% endif %}</td>
<td>{{ s.reasons|join("; ") }}</td>
<td>{{ s.reported.model_version or "-" }} ({{ s.desired.model_version }})</td>
<td class="num">{{ "-" if s.reported.slot is none else s.reported.slot }}</td>
<td>{{ s.reported.last_seen or "never" }}</td>
<td class="num">{{ "-" if s.reported.anomalies_per_day is none else "%.2f"|format(s.reported.anomalies_per_day) }}</td>
<td class="num">{% if s.battery.measured_uA is none %}{{ s.battery.verdict }}{% else %}{{ "%.2f"|format(s.battery.measured_uA) }} / {{ "%.2f"|format(s.battery.predicted_uA) }} uA{% endif %}</td>
<td class="num">{{ "-" if s.battery.projected_life_years is none else "%.1f"|format(s.battery.projected_life_years) }} / {{ "%.1f"|format(s.battery.predicted_life_years) }} y</td>
<td>{{ plots[loop.index0][0]|safe }}</td><td>{{ plots[loop.index0][1]|safe }}</td>
</tr>
{% endfor %}</tbody>
</table>
<script>
// a click on a count shows only the sites in that state; a second click shows all again
(function () {
  var shown = null;
  var counts = document.querySelectorAll(".count");
  for (var i = 0; i < counts.length; i++) {
    counts[i].addEventListener("click", function (event) {
      var state = event.currentTarget.getAttribute("data-state");
      shown = shown === state ? null : state;
      var rows = document.querySelectorAll("#sites tbody tr");
      for (var j = 0; j < rows.length; j++) {
        rows[j].className = rows[j].getAttribute("data-state") + (shown && rows[j].getAttribute("data-state") !== shown ? " hidden" : "");
      }
    });
  }
  document.body.setAttribute("data-ready", "1");
})();
</script>
</body>
</html>
"""


def render_page(fleet: FleetStatus) -> str:
    data = fleet_data(fleet)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    revisions = ", ".join(sorted({s.desired.revision for s in fleet.sites})) or "no bundles"
    plots = [(battery_svg(s), anomaly_svg(s, fleet.now_ms)) for s in fleet.sites]
    return env.from_string(TEMPLATE).render(now=when(fleet.now_ms), sites=data["sites"], counts=data["counts"],
                                            states=STATES, plots=plots, revisions=revisions)


def write_page(fleet: FleetStatus, folder: Path) -> list[Path]:
    """index.html and status.json in `folder`, each written whole (a temporary file renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("index.html", render_page(fleet)), ("status.json", to_json(fleet))):
        target = folder / name
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        written.append(target)
    return written
