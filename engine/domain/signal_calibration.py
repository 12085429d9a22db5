"""How often the review's thresholds open a CAPA by chance, and how often they catch a real shift (OOS-23).

Why this exists: a periodic review that opens a CAPA on most stable products
teaches QA to ignore its signals; one that misses a drift fails OOS-21. The
default :class:`~engine.domain.review_thresholds.Thresholds` are chosen on the
simulations below, run with fixed seeds so the figures are reproducible
(``python -m bench report --section calibration`` prints them, and a test keeps
them within bounds).

The simulated product (:data:`STABLE_CAR_T`) has the CAR-T release panel of the
demo product (means, standard deviations and limits of viability, dose,
transduction efficiency, vector copy number and IFN-γ release): independent,
normally distributed results, capable (Cpk 1.26–2.0), ``batches_per_period``
batches in each of four six-month periods (three baseline periods and the one
under review, the service's default), and a constant OOS rate. Each review
runs the real analysis (:func:`~engine.domain.trends.analyse_trends` and
:func:`~engine.domain.trends.review_signals`).

* **False-alarm rate**: the share of reviews of the stable product that raise
  a signal of a statistical test (:data:`CHANCE_SIGNALS`: OOS-rate increase,
  control rules, low capability, near-limit share). Repeat failures are counted
  apart (``repeat_failure_rate``): they are recurring OOS outcomes, which OOS-23
  escalates as such, not a test firing by chance.
* **Detection rate**: the share of reviews with a shift (:data:`SHIFTS`) that
  raise a signal naming the shifted attribute.

Assumption to keep in mind: results are simulated as normal. A strongly skewed
attribute (e.g. endotoxin, log-normal) has more chance events beyond the upper
3σ line than this simulation shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from engine.domain.batch_outcomes import BatchOutcome, OosCategory, Period, six_monthly_periods
from engine.domain.review_thresholds import Thresholds
from engine.domain.specification_limits import AttributeLimit
from engine.domain.specifications import Specification
from engine.domain.trends import analyse_trends, review_signals

#: Signals of a statistical test, which a stable product raises only by chance.
CHANCE_SIGNALS = frozenset({"oos_rate_increase", "control_rule", "low_capability", "near_limit"})
PRODUCT_CODE = "SIMULATED-CAR-T"
START = datetime(2024, 1, 1, tzinfo=UTC)
#: The seed of the published figures (bench and tests).
CALIBRATION_SEED = 20260101


@dataclass(frozen=True)
class SimulatedAttribute:
    """A numeric release attribute: process mean and standard deviation, specification limits."""

    name: str
    mean: float
    sd: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class SimulatedProduct:
    """A stable product: its attributes, batches per six-month period, periods reviewed, OOS rate."""

    attributes: tuple[SimulatedAttribute, ...]
    batches_per_period: int = 120
    periods: int = 4
    oos_rate: float = 0.02

    @property
    def specification(self) -> Specification:
        limits = tuple(AttributeLimit(a.name, "u", lower=a.lower, upper=a.upper) for a in self.attributes)
        return Specification(PRODUCT_CODE, 1, START, limits)


@dataclass(frozen=True)
class Shift:
    """A change of one attribute's mean in the review period: ``size`` σ over its last ``batches`` batches.

    ``linear`` makes it a drift growing from 0 to ``size`` σ instead of a step.
    """

    name: str
    attribute: str
    size: float
    batches: int
    linear: bool = False


STABLE_CAR_T = SimulatedProduct(
    (
        SimulatedAttribute("viability", 90.5, 2.6, lower=80.0),
        SimulatedAttribute("car_t_dose", 2.6, 0.5, lower=0.6, upper=6.0),
        SimulatedAttribute("transduction_efficiency", 32.0, 4.5, lower=15.0),
        SimulatedAttribute("vector_copy_number", 2.2, 0.3, upper=4.0),
        SimulatedAttribute("ifn_gamma_release", 1850.0, 320.0, lower=500.0),
    )
)

#: The shifts the review must flag: those of the unit tests and the demo dataset, on a capable attribute.
SHIFTS: tuple[Shift, ...] = (
    Shift("1.25σ step over the last 50 batches", "car_t_dose", 1.25, 50),
    Shift("2σ step over the last 12 batches", "car_t_dose", 2.0, 12),
    Shift("linear drift to 3.7σ over the period", "vector_copy_number", 1.1 / 0.3, 120, linear=True),
)


def simulated_batches(
    product: SimulatedProduct, rng: np.random.Generator, shift: Shift | None = None
) -> tuple[list[BatchOutcome], list[Period]]:
    """One simulated history: every period's batches, released or OOS, with their results."""
    periods = six_monthly_periods(START, datetime(START.year + product.periods, 1, 1, tzinfo=UTC))[: product.periods]
    n = product.batches_per_period
    columns = {a.name: rng.normal(a.mean, a.sd, (len(periods), n)) for a in product.attributes}
    if shift is not None:
        sd = next(a.sd for a in product.attributes if a.name == shift.attribute)
        ramp = np.linspace(1 / shift.batches, 1, shift.batches) if shift.linear else np.ones(shift.batches)
        columns[shift.attribute][-1, n - shift.batches :] += shift.size * sd * ramp
    oos = rng.random((len(periods), n)) < product.oos_rate
    category = (OosCategory("below lower limit", product.attributes[0].name, "major"),)
    batches: list[BatchOutcome] = []
    for p, period in enumerate(periods):
        step = (period.end - period.start) / n
        for i in range(n):
            decided_at, batch_id = period.start + step * i, f"SIM-{p}-{i:04d}"
            if oos[p, i]:
                batches.append(BatchOutcome(batch_id, PRODUCT_CODE, decided_at, "oos_not_administered", {}, category))
            else:
                results = {name: float(column[p, i]) for name, column in columns.items()}
                batches.append(BatchOutcome(batch_id, PRODUCT_CODE, decided_at, "released", results))
    return batches, periods


def _signals(product: SimulatedProduct, thresholds: Thresholds, rng: np.random.Generator,
             shift: Shift | None) -> list[tuple[str, str | None]]:
    batches, periods = simulated_batches(product, rng, shift)
    analysis = analyse_trends(batches, product.specification, periods, thresholds=thresholds)
    return [(s.kind, s.attribute) for s in review_signals(analysis)]


@dataclass(frozen=True)
class Calibration:
    """Figures of one calibration run (rates are shares of simulated reviews)."""

    reviews: int
    false_alarm_rate: float
    false_alarms_by_signal: dict[str, float]
    repeat_failure_rate: float
    detection_rates: dict[str, float]

    @property
    def detection_rate(self) -> float:
        """The lowest detection rate over the shifts: every shift must be flagged."""
        return min(self.detection_rates.values())


def calibrate(
    thresholds: Thresholds | None = None,
    *,
    product: SimulatedProduct = STABLE_CAR_T,
    shifts: Sequence[Shift] = SHIFTS,
    reviews: int = 400,
    shifted_reviews: int = 100,
    seed: int = CALIBRATION_SEED,
) -> Calibration:
    """False-alarm rate over ``reviews`` stable reviews, detection rate over ``shifted_reviews`` per shift."""
    thresholds = thresholds or Thresholds()
    alarms, repeats = 0, 0
    by_signal: dict[str, int] = dict.fromkeys(sorted(CHANCE_SIGNALS), 0)
    for review in range(reviews):
        kinds = {kind for kind, _ in _signals(product, thresholds, np.random.default_rng([seed, review]), None)}
        alarms += bool(kinds & CHANCE_SIGNALS)
        repeats += "repeat_failure" in kinds
        for kind in kinds & CHANCE_SIGNALS:
            by_signal[kind] += 1
    detected: dict[str, float] = {}
    for number, shift in enumerate(shifts, start=1):
        hits = sum(
            any(attribute == shift.attribute for _, attribute in
                _signals(product, thresholds, np.random.default_rng([seed, number, review]), shift))
            for review in range(shifted_reviews)
        )
        detected[shift.name] = hits / shifted_reviews
    return Calibration(reviews, alarms / reviews, {k: v / reviews for k, v in by_signal.items()},
                       repeats / reviews, detected)


__all__ = [
    "CALIBRATION_SEED",
    "CHANCE_SIGNALS",
    "SHIFTS",
    "STABLE_CAR_T",
    "Calibration",
    "Shift",
    "SimulatedAttribute",
    "SimulatedProduct",
    "calibrate",
    "simulated_batches",
]
