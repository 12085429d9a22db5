"""A realistic, deterministic two-year dataset of one CAR-T product for demos and tests (OOS-20, OOS-21).

Why this exists: the periodic review must be shown working on data that looks
like a real autologous CAR-T release history, with the problems it is meant to
find, without any real patient or batch data. Everything here is fictional and
fully determined by the seed.

What the data contains (CART19-AUTH, limits from :mod:`engine.domain.catalogue`):

* 15–25 batches a month, each with a full numeric release panel drawn around
  realistic process means (viability ≈ 90.5 %, dose ≈ 2.6 ×10^8 cells,
  transduction ≈ 32 %, vector copy number ≈ 2.2 copies/transduced cell,
  IFN-γ ≈ 1850 pg/mL, endotoxin ≈ 0.4 EU/mL).
* About 2 % of batches with viability below the 80 % limit, the textbook OOS
  of cell therapy; about 70 % of those are administered under the
  exceptional-use pathway (physician request), the rest are not.
* One sterility failure, never administered.
* In the last six months, the vector copy number creeps up linearly by
  ``drift`` copies (default 1.1) towards its ≤ 4.0 limit: the drift the
  periodic review must flag.

Status and OOS categories are not invented: every batch is judged by
:func:`~engine.domain.specifications.detect_oos` against the specification
version in force at its decision time, so the dataset is consistent with the
rules the pathway itself applies.
"""

from __future__ import annotations

import calendar
import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.domain import catalogue as cat
from engine.domain.specifications import (
    AttributeLimit,
    OosFinding,
    OosReason,
    TestResult,
    detect_oos,
    specification_in_force,
)
from engine.domain.trends import BatchOutcome, OosCategory, Period, Thresholds, six_monthly_periods
from engine.reporting.periodic import PeriodicReport, build_periodic_report

DEFAULT_START = datetime(2024, 7, 1, tzinfo=UTC)

#: Process means and standard deviations of the numeric release results (realistic, fictional).
PROCESS = {
    cat.VIABILITY: (90.5, 2.6),
    cat.CAR_T_DOSE: (2.6, 0.5),
    cat.TRANSDUCTION_EFFICIENCY: (32.0, 4.5),
    cat.VECTOR_COPY_NUMBER: (2.2, 0.3),
    cat.IFN_GAMMA_RELEASE: (1850.0, 320.0),
}
UNITS = {
    cat.VIABILITY: cat.PERCENT,
    cat.CAR_T_DOSE: cat.DOSE_UNIT,
    cat.TRANSDUCTION_EFFICIENCY: cat.PERCENT,
    cat.VECTOR_COPY_NUMBER: cat.VCN_UNIT,
    cat.IFN_GAMMA_RELEASE: cat.PG_PER_ML,
    cat.ENDOTOXIN: cat.EU_PER_ML,
}
DECIMALS = {
    cat.VIABILITY: 1,
    cat.CAR_T_DOSE: 2,
    cat.TRANSDUCTION_EFFICIENCY: 1,
    cat.VECTOR_COPY_NUMBER: 2,
    cat.IFN_GAMMA_RELEASE: 0,
    cat.ENDOTOXIN: 2,
}


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.month - 1 + months
    return moment.replace(year=moment.year + total // 12, month=total % 12 + 1, day=1)


def severity_of(finding: OosFinding, limit: AttributeLimit) -> str:
    """A simple, documented severity rule for the demo data (real severities are a QA decision).

    Microbial or qualitative failures are ``critical``; a numeric result within
    5 % of its limit (relative to the limit) is ``minor``, within 10 % ``major``,
    further ``critical``.
    """
    if finding.reason in (OosReason.RESULT_NOT_ACCEPTED, OosReason.NO_RESULT):
        return "critical"
    bound = limit.lower if finding.reason is OosReason.BELOW_LOWER_LIMIT else limit.upper
    if bound is None or bound == 0:
        return "major"
    deviation = abs(Decimal(finding.measured) - Decimal(bound)) / abs(Decimal(bound))
    if deviation <= Decimal("0.05"):
        return "minor"
    return "major" if deviation <= Decimal("0.10") else "critical"


def _decision_times(rng: random.Random, month_start: datetime, count: int) -> list[datetime]:
    """``count`` release/decision times spread over the month, working hours, sorted."""
    days = calendar.monthrange(month_start.year, month_start.month)[1]
    minutes = sorted(rng.randrange(days * 24 * 60) for _ in range(count))
    times = []
    for minute in minutes:
        moment = month_start + timedelta(minutes=minute)
        times.append(moment.replace(hour=8 + moment.hour % 10))
    return sorted(times)


def _panel(rng: random.Random, drift_vcn: float, force_low_viability: bool) -> dict[str, float]:
    values = {attribute: rng.gauss(mean, sd) for attribute, (mean, sd) in PROCESS.items()}
    values[cat.VECTOR_COPY_NUMBER] += drift_vcn
    values[cat.ENDOTOXIN] = math.exp(rng.gauss(math.log(0.4), 0.35))
    if force_low_viability:
        values[cat.VIABILITY] = rng.uniform(72.0, 79.4)
    values[cat.VIABILITY] = min(values[cat.VIABILITY], 99.0)
    values[cat.CAR_T_DOSE] = max(values[cat.CAR_T_DOSE], 0.7)
    values[cat.VECTOR_COPY_NUMBER] = max(values[cat.VECTOR_COPY_NUMBER], 0.5)
    return {attribute: round(value, DECIMALS[attribute]) for attribute, value in values.items()}


def generate_dataset(
    seed: int,
    start: datetime = DEFAULT_START,
    months: int = 24,
    batches_per_month: tuple[int, int] = (15, 25),
    *,
    low_viability_rate: float = 0.02,
    administered_share: float = 0.7,
    drift: float = 1.1,
    drift_months: int = 6,
) -> list[BatchOutcome]:
    """Batch outcomes of CART19-AUTH over ``months`` months from ``start``; identical for the same arguments.

    The vector copy number drifts by ``drift`` over the last ``drift_months``
    months (0 disables it). One sterility failure is placed in the middle of the
    dataset. Batches are returned in decision order.
    """
    if months < 1 or batches_per_month[0] < 1 or batches_per_month[1] < batches_per_month[0]:
        raise ValueError("months and batches per month must be positive and ordered")
    rng = random.Random(seed)
    specs = cat.specifications_for(cat.CART19_AUTH)
    first_month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    drift_start = _add_months(first_month, months - drift_months)
    drift_end = _add_months(first_month, months)
    sterility_month = months // 2
    outcomes: list[BatchOutcome] = []
    sequence: dict[int, int] = {}
    for month in range(months):
        month_start = _add_months(first_month, month)
        times = _decision_times(rng, month_start, rng.randint(*batches_per_month))
        sterility_index = rng.randrange(len(times)) if month == sterility_month else -1
        for index, decided_at in enumerate(times):
            sequence[decided_at.year] = sequence.get(decided_at.year, 0) + 1
            batch_id = f"CART19-{decided_at.year % 100:02d}-{sequence[decided_at.year]:04d}"
            progress = 0.0
            if drift and decided_at >= drift_start:
                progress = (decided_at - drift_start) / (drift_end - drift_start)
            values = _panel(rng, drift * progress, rng.random() < low_viability_rate)
            sterility = "growth detected (Staphylococcus epidermidis)" if index == sterility_index else "no growth"
            results = [TestResult(attribute, value, unit=UNITS[attribute]) for attribute, value in values.items()]
            results += [
                TestResult(cat.STERILITY, text=sterility),
                TestResult(cat.MYCOPLASMA, text="not detected"),
                TestResult(cat.RCL, text="not detected"),
            ]
            spec = specification_in_force(specs, decided_at)
            findings = [f for f in detect_oos(results, spec) if f.is_out_of_limits]
            categories = tuple(
                OosCategory(str(f.reason), f.attribute, severity_of(f, spec.limit_for(f.attribute))) for f in findings
            )
            administered = rng.random() < administered_share
            if not findings:
                status = "released"
            elif administered and cat.STERILITY not in {c.attribute for c in categories}:
                status = "oos_administered"
            else:
                status = "oos_not_administered"
            outcomes.append(BatchOutcome(batch_id, cat.CART19_AUTH, decided_at, status, values, categories))
    return outcomes


def sample_periods(start: datetime = DEFAULT_START, months: int = 24) -> list[Period]:
    """The six-monthly review periods covering a generated dataset."""
    return six_monthly_periods(start, _add_months(start, months))


def sample_report(
    seed: int = 7,
    *,
    generated_at: datetime,
    start: datetime = DEFAULT_START,
    months: int = 24,
    thresholds: Thresholds | None = None,
    **dataset_options: Any,
) -> PeriodicReport:
    """A complete periodic report of a generated CART19-AUTH dataset (demo, docs/sample-report, tests).

    The specification is the version in force at the end of the last period,
    the one the next batches must meet.
    """
    periods = sample_periods(start, months)
    batches = generate_dataset(seed, start, months, **dataset_options)
    specification = specification_in_force(
        cat.specifications_for(cat.CART19_AUTH), periods[-1].end - timedelta(microseconds=1)
    )
    return build_periodic_report(
        batches,
        specification,
        periods,
        product_name=cat.product(cat.CART19_AUTH).name,
        generated_at=generated_at,
        thresholds=thresholds,
    )


__all__ = ["DEFAULT_START", "PROCESS", "generate_dataset", "sample_periods", "sample_report", "severity_of"]
