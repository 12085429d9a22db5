"""Periodic review data: LIMS import, SQL aggregation against the pure analysis, outcomes of cases (OOS-20, OOS-21).

Runs on SQLite, and on PostgreSQL when OOSPATH_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.domain import catalogue as cat
from engine.domain.specifications import specification_in_force
from engine.domain.trends import BatchOutcome, Thresholds, analyse_trends, six_monthly_periods
from engine.reporting.periodic import annex_header, annex_row, dataset_sha256
from engine.reporting.synthetic import generate_dataset
from engine.services import batch_file, batch_import, periodic_review, qp, review_data
from engine.services.batch_file import ImportRefused
from engine.services.identity import Actor
from engine.store.models import BatchRow
from engine.store.models import TestResultRow as ResultRow
from engine.store.review_models import OosCategoryRow
from oospath.demo import run_scenario
from workers.embedded import EmbeddedMessaging

QA = Actor("anna.keller", frozenset({"qa"}))
START = datetime(2024, 7, 1, tzinfo=UTC)
PERIODS = six_monthly_periods(START, datetime(2026, 7, 1, tzinfo=UTC))


@pytest.fixture
def clock() -> FrozenClock:
    """After 2026-H1 ended: the latest six-month period of the default cycle is 2026-H1."""
    return FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


def dataset(seed: int = 7, prefix: str = "L", **options: object) -> list[BatchOutcome]:
    """Two years of synthetic CART19-AUTH batches, ids prefixed so they never meet the seeded sample batches."""
    return [replace(b, batch_id=prefix + b.batch_id) for b in generate_dataset(seed, START, 24, **options)]


def lims_csv(batches: list[BatchOutcome]) -> bytes:
    attributes = list(dict.fromkeys(a for b in batches for a in b.results))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(annex_header(attributes))
    for batch in batches:
        writer.writerow(annex_row(batch, attributes, PERIODS))
    return buffer.getvalue().encode()


def import_bytes(app: Oospath, content: bytes, fmt: batch_file.Format = "csv") -> batch_import.ImportSummary:
    with app.uow() as uow:
        summary = batch_import.import_batches(uow.session, app.clock.now(), QA, content, fmt)
        uow.commit()
    return summary


def batch_count(app: Oospath) -> int:
    with app.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(BatchRow)) or 0


def spec_at_end() -> object:
    return specification_in_force(cat.specifications_for(cat.CART19_AUTH), PERIODS[-1].end - timedelta(microseconds=1))


# ---- import ----------------------------------------------------------------------------------------------------
def test_a_lims_csv_export_imports_every_batch_with_results_and_categories(app: Oospath,
                                                                          pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20, OOS-21
    batches = dataset()
    summary = import_bytes(app, lims_csv(batches))
    assert summary.rows == len(batches)
    assert summary.by_status == {s: sum(b.status == s for b in batches) for s in summary.by_status}
    sterility = next(b for b in batches if cat.STERILITY in b.failed_attributes)
    with app.uow() as uow:
        row = uow.session.get(BatchRow, sterility.batch_id)
        assert row is not None and row.outcome == "oos_not_administered" and row.decided_at == sterility.decided_at
        categories = uow.session.scalars(select(OosCategoryRow).where(OosCategoryRow.batch_id == row.batch_id)).all()
        assert [(c.type, c.attribute, c.severity) for c in categories] == [tuple(c) for c in sterility.oos_categories]
        results = {r.attribute: r.value for r in uow.session.scalars(
            select(ResultRow).where(ResultRow.batch_id == row.batch_id))}
    assert results == dict(sterility.results)


def test_a_bad_row_is_reported_by_line_and_field_and_nothing_is_imported(app: Oospath,
                                                                        pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20 — all or nothing: the good rows of a file with a bad row are not imported either
    before = batch_count(app)
    content = (
        b"batch_id,product_code,decided_at,status,viability,oos_categories\n"
        b"GOOD-1,CART19-AUTH,2026-02-01T10:00:00Z,released,91.0,\n"
        b"BAD-TZ,CART19-AUTH,2026-02-02T10:00:00,released,90.0,\n"
        b"BAD-REL,CART19-AUTH,2026-02-03T10:00:00Z,released,72.0,\n"
        b"BAD-CAT,CART19-AUTH,2026-02-04T10:00:00Z,oos_administered,75.0,\n"
        b"GOOD-1,CART19-AUTH,2026-02-05T10:00:00Z,sold,91.0,\n"
        b"BAD-PROD,NO-SUCH,2026-02-06T10:00:00Z,released,91.0,\n"
    )
    with pytest.raises(ImportRefused) as refused:
        import_bytes(app, content)
    found = {(e.line, e.field) for e in refused.value.errors}
    assert found == {(3, "decided_at"), (4, "viability"), (5, "oos_categories"), (6, "status"),
                     (7, "product_code")}
    messages = {(e.line, e.field): e.message for e in refused.value.errors}
    assert "no time zone" in messages[(3, "decided_at")]
    assert "released to specification, but 72.0 is below lower limit" in messages[(4, "viability")]
    assert "line 3, field decided_at" in refused.value.detail
    assert batch_count(app) == before


def test_duplicates_in_the_file_and_in_the_database_are_refused(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20
    content = (
        "batch_id,product_code,decided_at,status,viability\n"
        "DUP-1,CART19-AUTH,2026-02-01T10:00:00Z,released,91.0\n"
        "DUP-1,CART19-AUTH,2026-02-02T10:00:00Z,released,92.0\n"
        f"{cat.BATCH_IN_SPEC},CART19-AUTH,2026-02-03T10:00:00Z,released,93.0\n"
    ).encode()
    with pytest.raises(ImportRefused) as refused:
        import_bytes(app, content)
    assert {(e.line, e.field) for e in refused.value.errors} == {(3, "batch_id"), (4, "batch_id")}


def test_json_rows_are_located_by_the_line_they_start_on(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20
    good = {"batch_id": "J-1", "product_code": "CART19-AUTH", "decided_at": "2026-03-01T09:00:00+01:00",
            "status": "oos_administered",
            "results": [{"attribute": "viability", "value": 76.0, "unit": "%"},
                        {"attribute": "sterility", "text": "no growth"}],
            "oos_categories": [{"type": "below lower limit", "attribute": "viability", "severity": "minor"}]}
    bad = {**good, "batch_id": "J-2", "results": [{"attribute": "viability", "value": 76.0, "unit": "percent"}]}
    text = "[\n" + json.dumps(good, indent=2) + ",\n" + json.dumps(bad, indent=2) + "\n]\n"
    bad_line = text.splitlines().index("{", 2) + 1
    with pytest.raises(ImportRefused) as refused:
        import_bytes(app, text.encode(), "json")
    (error,) = refused.value.errors
    assert (error.line, error.field) == (bad_line, "results/viability") and "unit 'percent'" in error.message
    summary = import_bytes(app, ("[" + json.dumps(good) + "]").encode(), "json")
    assert summary.by_status["oos_administered"] == 1
    with app.uow() as uow:
        row = uow.session.get(BatchRow, "J-1")
        assert row is not None and row.decided_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_json_lines_import(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20
    rows = [{"batch_id": f"JL-{i}", "product_code": "CART19-AUTH", "decided_at": f"2026-04-0{i}T09:00:00Z",
             "status": "released", "results": {"viability": 90.0 + i, "sterility": "no growth"}} for i in (1, 2)]
    text = "\n".join(json.dumps(r) for r in rows) + "\n{not json}\n"
    with pytest.raises(ImportRefused) as refused:
        import_bytes(app, text.encode(), "jsonl")
    assert refused.value.errors[0].line == 3
    assert import_bytes(app, "\n".join(json.dumps(r) for r in rows).encode(), "jsonl").rows == 2


# ---- SQL aggregation = the pure computation --------------------------------------------------------------------
def test_the_analysis_in_sql_equals_the_pure_analysis_on_the_same_data(app: Oospath,
                                                                      pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20, OOS-21 — counts, rates, Fisher test, control charts, repeats, categories, capability, hash
    batches = dataset()
    import_bytes(app, lims_csv(batches))
    other = [replace(b, batch_id="X" + b.batch_id) for b in batches[-60:] if b.status == "released"]
    bcma = [{"batch_id": b.batch_id, "product_code": cat.CART_BCMA_IMP, "decided_at": b.decided_at.isoformat(),
             "status": "released", "results": {"viability": 85.0}} for b in other]
    import_bytes(app, json.dumps(bcma).encode(), "json")  # another product: never counted
    spec = spec_at_end()
    thresholds = Thresholds()
    pure = analyse_trends(batches, spec, PERIODS, thresholds=thresholds)  # type: ignore[arg-type]
    with app.uow() as uow:
        sql = review_data.analyse_in_database(uow.session, spec, PERIODS, thresholds=thresholds)  # type: ignore[arg-type]
        oos = review_data.oos_batches(uow.session, cat.CART19_AUTH, PERIODS[0].start, PERIODS[-1].end)
        streamed = review_data.stream_dataset(uow.session, spec, PERIODS, oos)  # type: ignore[arg-type]
    assert sql.counts == pure.counts
    with app.uow() as uow:  # every product at once, one GROUP BY (product, period, outcome)
        by_product = review_data.period_counts_by_product(uow.session, PERIODS)
    assert by_product[cat.CART19_AUTH] == list(pure.counts)
    assert sum(c.released for c in by_product[cat.CART_BCMA_IMP]) == len(bcma)
    assert [c.total for c in sql.counts] == [sum(p.contains(b.decided_at) for b in batches) for p in PERIODS]
    assert sql.rate_comparison == pure.rate_comparison
    assert sql.charts == pure.charts
    assert sql.repeat_failures == pure.repeat_failures and sql.categories == pure.categories
    for ours, theirs in zip(sql.capabilities, pure.capabilities, strict=True):
        assert (ours.attribute, ours.n, ours.near_limit_count) == (theirs.attribute, theirs.n, theirs.near_limit_count)
        for name in ("mean", "sigma_within", "sigma_overall", "cpk", "ppk", "near_limit_band"):
            assert getattr(ours, name) == pytest.approx(getattr(theirs, name), rel=1e-9), (ours.attribute, name)
    assert streamed.sha256 == dataset_sha256(batches) and streamed.rows == len(batches)
    annex = list(csv.DictReader(io.StringIO(streamed.annex_csv.decode())))
    assert [r["batch_id"] for r in annex] == sorted(b.batch_id for b in batches)


def test_counts_are_grouped_in_sql_per_period_and_outcome(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20 — hand-made: 3 released, 2 OOS administered, 1 not, in one period; one on the period's end
    rows = [("R1", "2026-01-01T00:00:00Z", "released", ""), ("R2", "2026-03-01T10:00:00Z", "released", ""),
            ("R3", "2026-06-30T23:59:59Z", "released", ""),
            ("A1", "2026-02-01T10:00:00Z", "oos_administered", "below lower limit / viability / minor"),
            ("A2", "2026-05-01T10:00:00Z", "oos_administered", "below lower limit / viability / major"),
            ("N1", "2026-04-01T10:00:00Z", "oos_not_administered", "result not accepted / sterility / critical"),
            ("NEXT", "2026-07-01T00:00:00Z", "released", "")]
    lines = ["batch_id,product_code,decided_at,status,oos_categories"]
    lines += [f"{b},CART19-AUTH,{t},{s},{c}" for b, t, s, c in rows]
    import_bytes(app, "\n".join(lines).encode())
    with app.uow() as uow:
        (counts,) = review_data.period_counts(uow.session, cat.CART19_AUTH, [PERIODS[-1]])
    assert (counts.released, counts.oos_administered, counts.oos_not_administered) == (3, 2, 1)
    assert counts.oos_rate == pytest.approx(3 / 6) and counts.administered_oos_rate == pytest.approx(2 / 5)


# ---- outcomes decided inside oospath ---------------------------------------------------------------------------
@pytest.mark.parametrize(("scenario", "expected"), [("authorised", "oos_administered"),
                                                    ("declined", "oos_not_administered")])
def test_closed_cases_and_certified_batches_map_to_review_outcomes(
        app: Oospath, pathway: EmbeddedMessaging, clock: FrozenClock, scenario: str, expected: str) -> None:
    # REQ: OOS-20, OOS-21 — a case's outcome, decision time and findings become the batch's review data
    result = run_scenario(app, pathway.pump, scenario, clock.advance)
    qp.certify_batch(app.sessions, app.clock, cat.BATCH_IN_SPEC, Actor("jan.devries", frozenset({"qp"})))
    with app.uow() as uow:
        assert periodic_review.map_case_outcomes(uow.session) == 2
        uow.commit()
    with app.uow() as uow:
        batch = uow.session.get(BatchRow, result.case.batch_id)
        assert batch is not None and batch.outcome == expected
        assert result.case.opened_at < batch.decided_at <= result.case.closed_at  # type: ignore[operator]
        (category,) = uow.session.scalars(select(OosCategoryRow).where(OosCategoryRow.batch_id == batch.batch_id))
        assert (category.type, category.attribute) == ("below lower limit", cat.VIABILITY)
        assert category.severity == "major"  # the risk evaluation rates the severity of harm 3
        released = uow.session.get(BatchRow, cat.BATCH_IN_SPEC)
        assert released is not None and released.outcome == "released" and released.decided_at is not None
        assert periodic_review.map_case_outcomes(uow.session) == 0  # idempotent
