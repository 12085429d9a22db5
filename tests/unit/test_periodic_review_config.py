"""Periodic review without a database: configuration, cycle, periods, streamed hash, export readers.

REQ: OOS-20 .. OOS-23.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.domain.trends import Period, Thresholds
from engine.reporting.periodic import DatasetHasher, batch_row, dataset_sha256
from engine.reporting.synthetic import generate_dataset
from engine.services import periodic_review
from engine.services.batch_file import ImportRefused, csv_records, detect_format, json_records, jsonl_records
from engine.services.errors import InvalidData
from engine.settings import Settings

H1_2026 = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


# ---- configuration ---------------------------------------------------------------------------------------------
def test_defaults_are_the_six_monthly_cycle_three_baseline_periods_and_the_trend_thresholds() -> None:
    # REQ: OOS-20, OOS-23
    settings = periodic_review.load_settings(Settings(review_config=None, review_cycle=None))
    assert settings.cycle == "R/2026-01-01T00:00:00Z/P6M"
    assert settings.for_product("ANY") == (Thresholds(), 3)


def test_thresholds_and_baseline_come_from_the_json_file_with_product_overrides(tmp_path: Path) -> None:
    # REQ: OOS-23 — thresholds are configuration, not code
    config = tmp_path / "review.json"
    config.write_text(json.dumps({"baseline_periods": 2, "thresholds": {"alpha": 0.01, "control_rules": ["WE1"]},
                                  "products": {"CART19-AUTH": {"thresholds": {"min_rule_events": 3}}}}))
    settings = periodic_review.load_settings(Settings(review_config=config, review_cycle="off"))
    assert settings.cycle is None
    assert settings.for_product("OTHER") == (Thresholds(alpha=0.01, control_rules=("WE1",)), 2)
    product, baseline = settings.for_product("CART19-AUTH")
    assert (product.alpha, product.control_rules, product.min_rule_events, baseline) == (0.01, ("WE1",), 3, 2)


def test_rule_synonyms_in_the_configuration_are_stored_under_their_code() -> None:
    # REQ: OOS-23 — a file written for the former names (NELSON3) or Nelson's numbers keeps working
    settings = periodic_review.settings_from({"thresholds": {"control_rules": ["NELSON3", "N1", "N2"],
                                                             "near_limit_sigmas": 1.5}})
    assert settings.thresholds.control_rules == ("N3", "WE1", "N2")
    assert settings.thresholds.near_limit_sigmas == 1.5


@pytest.mark.parametrize(("document", "message"), [
    ({"thresholds": {"alfa": 0.1}}, "unknown threshold(s) alfa"),
    ({"thresholds": {"alpha": 2}}, "alpha must lie strictly between 0 and 1"),
    ({"thresholds": {"control_rules": ["WE9"]}}, "unknown control rule"),
    ({"thresholds": {"near_limit_sigmas": 0}}, "near_limit_sigmas must be a positive number"),
    ({"thresholds": {"rule_events_window": 0}}, "rule_events_window must be at least 1"),
    ({"baseline_periods": -1}, "baseline_periods"),
    ({"cycle": "R/2026-01-01T00:00:00Z/P3M"}, "every six months"),
    ({"cycle": "R/2026-01-01T00:00:00/P6M"}, "time zone"),
    ({"colour": "blue"}, "unknown key(s) colour"),
])
def test_a_wrong_configuration_is_refused_naming_what_is_wrong(document: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidData, match=message.replace("(", r"\(").replace(")", r"\)")):
        periodic_review.settings_from(document)


# ---- periods ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("now", "label"), [
    (datetime(2025, 12, 31, tzinfo=UTC), None),
    (datetime(2026, 7, 1, tzinfo=UTC), "2026-H1"),
    (datetime(2026, 11, 25, tzinfo=UTC), "2026-H1"),
    (datetime(2027, 1, 1, tzinfo=UTC), "2026-H2"),
])
def test_the_latest_ended_period_of_the_cycle(now: datetime, label: str | None) -> None:
    # REQ: OOS-20 — every six months from the cycle's start
    period = periodic_review.latest_ended_period(periodic_review.DEFAULT_CYCLE, now)
    assert (period.label if period else None) == label


def test_a_period_of_days_is_inclusive_of_its_last_day_and_the_baseline_precedes_it() -> None:
    # REQ: OOS-20, OOS-21 (comparator selection: the six-month periods before the review)
    assert periodic_review.period_from_days(date(2026, 1, 1), date(2026, 6, 30)) == H1_2026
    periods = periodic_review.review_periods(H1_2026, 3)
    assert [p.label for p in periods] == ["2024-H2", "2025-H1", "2025-H2", "2026-H1"]
    assert periodic_review.review_periods(H1_2026, 0) == [H1_2026]
    with pytest.raises(InvalidData, match="before it starts"):
        periodic_review.period_from_days(date(2026, 6, 30), date(2026, 1, 1))


# ---- the streamed hash equals the hash of the whole dataset ----------------------------------------------------
def test_the_streamed_dataset_hash_equals_the_dataset_hash() -> None:
    # REQ: OOS-20 — the database path hashes row by row; the digest must be the documented one
    batches = generate_dataset(3, months=3)
    hasher = DatasetHasher()
    for row in sorted((batch_row(b) for b in batches), key=lambda r: (r["batch_id"], r["decided_at"])):
        hasher.update(row)
    assert (hasher.hexdigest(), hasher.rows) == (dataset_sha256(batches), len(batches))
    assert DatasetHasher().hexdigest() == dataset_sha256([])


def test_the_streamed_hash_refuses_rows_out_of_order() -> None:
    rows = sorted((batch_row(b) for b in generate_dataset(3, months=1)), key=lambda r: r["batch_id"])
    hasher = DatasetHasher()
    hasher.update(rows[1])
    with pytest.raises(ValueError, match="out of canonical order"):
        hasher.update(rows[0])


# ---- export readers locate every row by its line ---------------------------------------------------------------
def test_csv_rows_carry_the_line_they_start_on_even_with_quoted_newlines() -> None:
    text = 'batch_id,note\nA,"two\nlines"\nB,x\n'
    assert [(line, row["batch_id"]) for line, row in csv_records(text)] == [(2, "A"), (4, "B")]


def test_json_array_items_carry_their_line_and_broken_json_names_its_line() -> None:
    text = '[\n  {"batch_id": "A",\n   "x": 1},\n  {"batch_id": "B"}\n]'
    assert [(line, item["batch_id"]) for line, item in json_records(text)] == [(2, "A"), (4, "B")]
    with pytest.raises(ImportRefused) as refused:
        list(json_records('[\n {"batch_id": "A"},\n {"batch_id": }\n]'))
    assert refused.value.errors[0].line == 3
    with pytest.raises(ImportRefused, match="array of batch objects"):
        list(json_records('{"batches": []}'))
    assert list(json_records("[]")) == []


def test_json_lines_and_format_detection() -> None:
    assert [line for line, _ in jsonl_records('{"a": 1}\n\n{"a": 2}\n')] == [1, 3]
    assert [detect_format(Path(name)) for name in ("x.csv", "x.json", "x.jsonl", "x.ndjson", "x.txt")] == [
        "csv", "json", "jsonl", "jsonl", "csv"]
