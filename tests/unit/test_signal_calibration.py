"""The default thresholds open few CAPAs by chance and still flag real shifts (OOS-21, OOS-23).

Fixed-seed simulations (engine.domain.signal_calibration): the same figures on
every run, so loosening a default (fewer rule events, more rules, a larger α)
makes these tests fail. ``python -m bench report --section calibration`` prints
the same figures over more reviews.
"""

from __future__ import annotations

import pytest

from engine.domain.signal_calibration import SHIFTS, Calibration, calibrate
from engine.domain.trends import Thresholds


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return calibrate(reviews=300, shifted_reviews=40)


def test_a_stable_product_opens_a_capa_by_chance_in_at_most_5_percent_of_reviews(calibration: Calibration) -> None:
    # REQ: OOS-23 — statistical signals (rate, control rules, capability, near-limit) on a stable, capable product
    assert calibration.reviews == 300
    assert calibration.false_alarm_rate <= 0.05
    assert calibration.false_alarms_by_signal["near_limit"] == 0.0  # the band no longer reaches the process mean


def test_the_shifts_of_the_unit_tests_and_the_demo_are_flagged(calibration: Calibration) -> None:
    # REQ: OOS-21, OOS-23 — sustained step, short strong step, linear drift of the demo's vector copy number
    assert set(calibration.detection_rates) == {shift.name for shift in SHIFTS}
    assert calibration.detection_rates["1.25σ step over the last 50 batches"] >= 0.9
    assert calibration.detection_rates["linear drift to 3.7σ over the period"] >= 0.95
    assert calibration.detection_rates["2σ step over the last 12 batches"] >= 0.75


def test_the_former_defaults_opened_capas_on_most_stable_reviews() -> None:
    # REQ: OOS-23 — one event of WE1–WE4 or Nelson 3 anywhere in the period, α = 0.05: the check above can fail
    former = Thresholds(alpha=0.05, control_rules=("WE1", "WE2", "WE3", "WE4", "N3"), min_rule_events=1,
                        rule_events_window=10_000)
    assert calibrate(former, reviews=60, shifts=()).false_alarm_rate > 0.9
