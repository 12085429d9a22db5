"""Every number that turns the periodic-review analysis into CAPA signals (OOS-23), configurable per product.

The defaults are calibrated on simulated stable and shifted products
(:mod:`engine.domain.signal_calibration`, figures printed by
``python -m bench report --section calibration``): a stable product opens a
CAPA by chance in at most 5 % of reviews, while a sustained shift of the
process is still flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.domain.batch_outcomes import TrendError
from engine.domain.control_rules import rule_code


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the periodic review's signals (OOS-23).

    * ``alpha``: the one-sided Fisher p-value below which the OOS rate has increased;
      ``confidence_level``: of the rates' Clopper–Pearson intervals.
    * ``min_cpk``, ``min_ppk``: capability below which the period signals, once it has
      ``min_capability_points`` released results.
    * ``repeat_failures``: OOS batches failing the same attribute in the period;
      ``repeat_consecutive_periods``: periods in a row with that attribute failing.
    * ``near_limit_fraction``: the near-limit band of a two-sided limit as a fraction of
      the tolerance width; ``near_limit_sigmas``: the band of a one-sided limit in σ within;
      ``near_limit_share``: the share of results in the band above which the period signals.
    * ``min_baseline_points``: released results needed in the baseline to set control limits.
    * ``control_rules``: the run rules whose events open signals (codes of
      :data:`~engine.domain.control_rules.RULE_DESCRIPTIONS`, synonyms accepted and stored
      under their code); ``min_rule_events``: how many of their events one attribute needs
      within ``rule_events_window`` consecutive released batches of the current period before
      it signals (a window at least as long as the period counts the whole period).
    """

    alpha: float = 0.01
    confidence_level: float = 0.95
    min_cpk: float = 1.0
    min_ppk: float = 1.0
    repeat_failures: int = 2
    repeat_consecutive_periods: int = 2
    near_limit_fraction: float = 0.10
    near_limit_sigmas: float = 1.0
    near_limit_share: float = 0.20
    min_baseline_points: int = 20
    min_capability_points: int = 10
    control_rules: tuple[str, ...] = ("WE1", "WE2", "WE3", "N2")
    min_rule_events: int = 5
    rule_events_window: int = 30

    def __post_init__(self) -> None:
        for name in ("alpha", "confidence_level", "near_limit_fraction", "near_limit_share"):
            if not 0 < getattr(self, name) < 1:
                raise TrendError(f"threshold {name} must lie strictly between 0 and 1")
        if not (math.isfinite(self.near_limit_sigmas) and self.near_limit_sigmas > 0):
            raise TrendError("threshold near_limit_sigmas must be a positive number of σ")
        for name in ("repeat_failures", "repeat_consecutive_periods", "min_capability_points", "min_rule_events",
                     "rule_events_window"):
            if getattr(self, name) < 1:
                raise TrendError(f"threshold {name} must be at least 1")
        if self.min_baseline_points < 2:
            raise TrendError("threshold min_baseline_points must be at least 2")
        if isinstance(self.control_rules, str):
            raise TrendError("threshold control_rules must be a list of rule codes, not one string")
        codes = [rule_code(name) for name in self.control_rules]
        object.__setattr__(self, "control_rules", tuple(dict.fromkeys(codes)))


__all__ = ["Thresholds"]
