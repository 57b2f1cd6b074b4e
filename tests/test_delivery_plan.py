"""The delivery plan's figures against hand-worked LoRa time on air and an independent
binomial sum, and the docs' delivery table against every example's report."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from engine.delivery.plan import needed_received, parity_for, plan_delivery
from tests.firmware_support import example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (ROOT / "specs" / "examples").glob("*.yaml"))


def test_airtime_by_hand():
    # EU868 DR5: SF7, 125 kHz, T_sym = 1.024 ms; 3 + 219 + 13 = 235 B, CR 4/5, explicit header, no CRC:
    # ceil((8*235 - 4*7 + 28) / (4*7)) = 68 -> 8 + 68*5 = 348 symbols + 12.25 preamble = 360.25 T_sym
    dr5 = plan_delivery(5760, "EU868", "DR5", 0.0, 4.2e-3, 3.6)
    assert dr5.fragment_airtime_s == pytest.approx(360.25 * 1.024e-3, abs=1e-6)
    # DR0: SF12, low data-rate optimisation, T_sym = 32.768 ms; 3 + 48 + 13 = 64 B:
    # ceil((512 - 48 + 28) / (4*10)) = 13 -> 8 + 65 = 73 symbols + 12.25 = 85.25 T_sym
    dr0 = plan_delivery(5760, "EU868", "DR0", 0.0, 4.2e-3, 3.6)
    assert dr0.fragment_airtime_s == pytest.approx(85.25 * 32.768e-3, abs=1e-6)
    assert (dr0.fragment_size, dr0.data_fragments, dr5.fragment_size, dr5.data_fragments) == (48, 120, 219, 27)
    assert dr5.deliver_s == pytest.approx(dr5.airtime_s / 0.01, abs=0.1)  # 1 % duty cycle
    assert dr5.node_energy_j == pytest.approx(4.2e-3 * 3.6 * dr5.deliver_s, rel=1e-3)
    us = plan_delivery(5760, "US915", "DR13", 0.0, 4.2e-3, 3.6)
    assert us.deliver_s == pytest.approx(us.airtime_s, abs=0.1)  # no duty-cycle limit


def binomial_at_least(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize("m, loss", [(27, 0.1), (120, 0.1), (120, 0.3), (441, 0.2)])
def test_parity_is_the_fewest_that_reach_99_percent(m, loss):
    parity, probability = parity_for(m, loss)
    need = needed_received(m)
    assert probability == pytest.approx(binomial_at_least(need, m + parity, 1 - loss), abs=1e-9)
    assert probability >= 0.99
    assert binomial_at_least(need, m + parity - 1, 1 - loss) < 0.99


def test_a_large_image_at_high_loss_exceeds_the_decoder():
    plan = plan_delivery(96496, "EU868", "DR3", 0.3, 4.2e-3, 3.6)
    assert not plan.decoder_ok
    assert "the decoder recovers at most 96" in plan.decoder_note


def table_rows() -> list[str]:
    rows = []
    for name in EXAMPLES:
        result, _ = example(name)
        u = json.loads(result.files["report.json"])["resolve"]["power"]["per_update"]
        share = f"{u['share_of_cell'] * 100:.3f} %" if "share_of_cell" in u else "-"
        rows.append(f"| {name} | {u['image_bytes']:,} | {u['data_rate']} | {u['fragment_bytes']} | {u['fragments']} "
                    f"| {u['airtime_s']:.1f} | {u['deliver_h']:.2f} | {u['energy_J']:.1f} | {u['charge_mAh']:.2f} "
                    f"| {share} | {'fits' if u['decoder_ok'] else 'exceeded at 10 % loss'} |")
    return rows


def test_docs_show_the_delivery_plan_of_every_example():
    text = (ROOT / "docs" / "field-updates.md").read_text()
    block = re.search(r"<!-- delivery-table.*?-->\n(.*?)<!-- end delivery-table -->", text, re.DOTALL).group(1)
    assert block.splitlines()[2:] == table_rows()
