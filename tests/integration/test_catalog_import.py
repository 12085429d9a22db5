"""Setting up a new product: `oospath catalog import`, QA's signed approval of a specification version, and
LIMS exports in long format (one row per batch and attribute).

REQ: OOS-01 (versioned specifications, the version in force judges a batch), OOS-02 (cell/tissue-based products),
OOS-20 (LIMS import for the periodic review), OOS-24 (signed change control), OOS-25 (segregation of duties).
Runs on SQLite, and on PostgreSQL when OOSPATH_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.domain import catalogue as cat
from engine.domain.specifications import BatchRecord, TestResult
from engine.services import accounts, batch_file, batch_import, batch_rows, catalog, catalog_approval, catalog_import
from engine.services.batch_file import ImportRefused
from engine.services.errors import Forbidden, InvalidData
from engine.services.identity import SYSTEM, Actor
from engine.services.lims_long_format import LongFormat, is_long_format
from engine.services.signatures import Credentials, SignatureRefused, content_sha256
from engine.settings import Settings
from engine.store.models import BatchRow, ProductRow, SpecificationRow
from engine.store.models import TestResultRow as ResultRow
from oospath.cli import main
from tests.integration.test_periodic_review_data import dataset, lims_csv

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "catalog.yaml"
PRODUCT = "TIL-MEL-IMP"
AUTHOR = Actor("ben.schmidt", frozenset({"qa"}), "Helix", "Ben Schmidt")
APPROVER = Actor("anna.keller", frozenset({"qa"}), "Helix", "Anna Keller")
PASSWORD = "a-long-test-password"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


@pytest.fixture
def people(app: Oospath) -> None:
    """Two QA users with passwords at one manufacturer: one prepares, the other approves."""
    with app.uow() as uow:
        accounts.add_organisation(uow.session, app.clock.now(), "Helix", "manufacturer")
        for actor in (AUTHOR, APPROVER):
            accounts.add_user(uow.session, app.clock.now(), actor.user, actor.printed_name or actor.user, PASSWORD,
                              [("Helix", "qa")])
        uow.commit()


def import_file(app: Oospath, content: bytes, *, is_json: bool = False) -> catalog_import.CatalogImportSummary:
    with app.uow() as uow:
        summary = catalog_import.import_catalog(uow.session, app.clock, AUTHOR, content, is_json=is_json)
        uow.commit()
    return summary


def approve(app: Oospath, version: int = 1, actor: Actor = APPROVER, password: str = PASSWORD) -> SpecificationRow:
    with app.uow() as uow:
        row = catalog_approval.approve_specification(uow.session, app.clock.now(), actor, PRODUCT, version,
                                                     Credentials(actor.user, password))
        uow.commit()
    return row


def stored(app: Oospath) -> tuple[int, int]:
    with app.uow() as uow:
        return (uow.session.scalar(select(func.count()).select_from(ProductRow)) or 0,
                uow.session.scalar(select(func.count()).select_from(SpecificationRow)) or 0)


def til_batch(batch_id: str, viability: float, manufactured_at: datetime) -> BatchRecord:
    return BatchRecord(batch_id=batch_id, product_code=PRODUCT, manufactured_at=manufactured_at, imported=False,
                       manufacturer="Helix", importer=None, mah=None, sponsor="Aurora", treating_site="Site",
                       treating_country="DE", results=(TestResult("viability", viability, unit="%"),))


# ---- catalogue import ------------------------------------------------------------------------------------------
def test_the_example_file_imports_its_product_and_a_version_awaiting_approval(app: Oospath) -> None:
    # REQ: OOS-01, OOS-02, OOS-24
    summary = import_file(app, EXAMPLE.read_bytes())
    assert summary.products == [PRODUCT] and summary.specifications == [f"{PRODUCT} v1"]
    with app.uow() as uow:
        product = catalog.get_product(uow.session, PRODUCT)
        (row,) = catalog.list_specifications(uow.session, PRODUCT)
        assert product.cell_tissue_based and product.kind == "investigational"
        assert row.status == "awaiting_approval" and row.created_by == AUTHOR.user and row.approved_by is None
        limits = {limit["attribute"]: limit for limit in row.limits}
        assert limits["cd3_positive"]["lower"] == "90.0"  # the number as written, never a binary float
        assert limits["endotoxin"]["limit"] == "< 5.0 EU/mL" and limits["sterility"]["limit"] == "no growth"


def test_the_same_catalogue_as_json_imports_the_same_versions(app: Oospath) -> None:
    # REQ: OOS-01
    document = yaml.safe_load(EXAMPLE.read_text())
    document["specifications"][0]["effective_from"] = "2025-01-01T00:00:00Z"
    import_file(app, json.dumps(document, indent="\t").encode(), is_json=True)
    with app.uow() as uow:
        (row,) = catalog.list_specifications(uow.session, PRODUCT)
    assert len(row.limits) == 7 and row.effective_from == datetime(2025, 1, 1, tzinfo=UTC)


BAD_FILE = b"""products:
  - code: TIL-MEL-IMP
    name: TIL therapy
    kind: investigational
    cell_tissue_based: true
specifications:
  - product_code: TIL-MEL-IMP
    version: 1
    effective_from: 2025-01-01T00:00:00Z
    limits:
      - {attribute: viability, unit: percent, lower: 70}
      - {attribute: til_dose, unit: x10^9 cells, lower: 150, upper: 5}
  - product_code: TIL-MEL-IMP
    version: 1
    effective_from: 2025-06-01T00:00:00Z
    limits:
      - {attribute: viability, unit: "%", lower: 75}
  - product_code: TIL-MEL-IMP
    version: 2
    limits:
      - {attribute: viability, unit: "%", lower: 75}
"""


def test_a_bad_file_is_refused_naming_line_and_field_and_nothing_is_stored(app: Oospath) -> None:
    # REQ: OOS-01 — unknown unit, lower above upper, a version twice, a missing field: all reported, none stored
    before = stored(app)
    with pytest.raises(ImportRefused) as refused:
        import_file(app, BAD_FILE)
    found = {(e.line, e.field) for e in refused.value.errors}
    assert found == {(11, "specifications/0/limits/0/unit"), (12, "specifications/0/limits/1/lower"),
                     (14, "specifications/1/version"), (18, "specifications/2/effective_from")}
    messages = {e.field: e.message for e in refused.value.errors}
    assert "'percent' is not known" in messages["specifications/0/limits/0/unit"]
    assert "lower limit 150 is above upper limit 5" in messages["specifications/0/limits/1/lower"]
    assert "already on line 8" in messages["specifications/1/version"]
    assert refused.value.status == 422 and stored(app) == before


def test_a_version_already_stored_is_refused_on_its_line(app: Oospath) -> None:
    # REQ: OOS-01 — approved versions are never changed: add the next version
    import_file(app, EXAMPLE.read_bytes())
    again = b"specifications:\n  - product_code: TIL-MEL-IMP\n    version: 1\n" \
            b"    effective_from: 2025-03-01T00:00:00Z\n    limits: [{attribute: viability, unit: '%', lower: 1}]\n"
    with pytest.raises(ImportRefused) as refused:
        import_file(app, again)
    (error,) = refused.value.errors
    assert (error.line, error.field) == (3, "specifications/0/version") and "already exists" in error.message


# ---- change control --------------------------------------------------------------------------------------------
def test_a_version_awaiting_approval_never_judges_a_batch(app: Oospath, people: None) -> None:
    # REQ: OOS-01, OOS-24 — only an approved version is the specification in force
    import_file(app, EXAMPLE.read_bytes())
    manufactured = datetime(2025, 3, 1, tzinfo=UTC)
    with app.uow() as uow, pytest.raises(InvalidData) as refused:
        catalog.register_batch(uow.session, app.clock, til_batch("TIL-25-0001", 65.0, manufactured), AUTHOR)
    assert f"no specification of {PRODUCT} is in force" in refused.value.detail
    approved = approve(app)
    assert approved.status == "approved" and approved.approved_by == APPROVER.user
    with app.uow() as uow:
        assessment = catalog.register_batch(uow.session, app.clock, til_batch("TIL-25-0001", 65.0, manufactured),
                                            AUTHOR)
        uow.commit()
        assert assessment.out_of_specification and assessment.specification.version == 1
        row = catalog_approval.get_specification(uow.session, PRODUCT, 1)
        signature = catalog_approval.decision_manifestation(uow.session, row)
        signed = content_sha256(catalog_approval.approval_content(row))
    assert signature is not None and signature["printed_name"] == "Anna Keller" and signature["meaning"] == "approval"
    assert signature["sha256"] == signed  # the signature binds the version's content


def test_a_lims_import_refuses_batches_of_a_product_whose_version_awaits_approval(app: Oospath) -> None:
    # REQ: OOS-20, OOS-24 — never judged against an unapproved version, and never silently skipped
    import_file(app, EXAMPLE.read_bytes())
    export = (EXAMPLE.parent / "til-batches-long.csv").read_bytes()
    with app.uow() as uow, pytest.raises(ImportRefused) as refused:
        batch_import.import_batches(uow.session, app.clock.now(), AUTHOR, export, "csv")
    assert {(e.line, e.field) for e in refused.value.errors} == {(2, "product_code"), (9, "product_code"),
                                                                 (16, "product_code"), (23, "product_code")}
    assert "no approved specification version" in refused.value.errors[0].message


def test_a_later_version_awaiting_approval_leaves_the_approved_one_in_force(app: Oospath, people: None) -> None:
    # REQ: OOS-01, OOS-24
    import_file(app, EXAMPLE.read_bytes())
    approve(app)
    import_file(app, b"specifications:\n  - product_code: TIL-MEL-IMP\n    version: 2\n"
                     b"    effective_from: 2025-06-01T00:00:00Z\n"
                     b"    limits: [{attribute: viability, unit: '%', lower: 90}]\n")
    with app.uow() as uow:
        assessment = catalog.register_batch(uow.session, app.clock,
                                            til_batch("TIL-25-0002", 80.0, datetime(2025, 7, 1, tzinfo=UTC)), AUTHOR)
    assert assessment.specification.version == 1  # v2 (viability >= 90) would have found 80.0 out of limits
    assert "viability" not in {finding.attribute for finding in assessment.findings}


def test_approval_needs_the_approvers_password_and_another_user_than_the_creator(app: Oospath, people: None) -> None:
    # REQ: OOS-24, OOS-25
    import_file(app, EXAMPLE.read_bytes())
    with pytest.raises(SignatureRefused) as wrong:
        approve(app, password="not-the-password")
    assert wrong.value.status == 401 and wrong.value.extra["requirement"] == "OOS-24"
    with pytest.raises(Forbidden) as own:
        approve(app, actor=AUTHOR)
    assert own.value.extra["requirement"] == "OOS-25" and "segregation of duties" in own.value.detail
    with app.uow() as uow:
        (row,) = catalog.list_specifications(uow.session, PRODUCT)
    assert row.status == "awaiting_approval"


# ---- long-format LIMS exports ----------------------------------------------------------------------------------
def seed_cart19(app: Oospath) -> None:
    """CART19-AUTH and its versions as the release's seed data (approved by the system, as the demo seeds them)."""
    with app.uow() as uow:
        catalog.add_product(uow.session, app.clock, cat.product(cat.CART19_AUTH), SYSTEM)
        uow.session.flush()
        for spec in cat.specifications_for(cat.CART19_AUTH):
            catalog.add_specification(uow.session, app.clock, spec, SYSTEM)
        uow.commit()


def long_from_wide(wide: bytes) -> bytes:
    """The same export with one row per batch and attribute, the batch columns repeated."""
    rows = list(csv.DictReader(io.StringIO(wide.decode())))
    batch_columns = [c for c in rows[0] if c in batch_rows.KNOWN_COLUMNS]
    attributes = [c for c in rows[0] if c not in batch_rows.KNOWN_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*batch_columns, "attribute", "value", "unit"])
    for row in rows:
        for attribute in attributes:
            writer.writerow([*(row[c] for c in batch_columns), attribute, row[attribute], ""])
    return buffer.getvalue().encode()


def parsed(app: Oospath, content: bytes) -> list[batch_rows.ParsedBatch]:
    """The batches a CSV export holds, as the import checks them (nothing written)."""
    text = content.decode()
    records = batch_file.records_of(text, "csv")
    with app.uow() as uow:
        batches, errors, _ = batch_import.parse(
            uow.session, LongFormat().batch_records(records) if is_long_format(text, "csv") else records)
    assert errors == []
    return batches


def test_a_long_format_export_imports_the_same_batches_as_the_wide_format(app: Oospath) -> None:
    # REQ: OOS-20
    seed_cart19(app)
    batches = dataset(prefix="W")[:60]
    wide = lims_csv(batches)
    long = long_from_wide(wide)
    assert is_long_format(long.decode(), "csv") and not is_long_format(wide.decode(), "csv")
    from_wide, from_long = parsed(app, wide), parsed(app, long)
    assert [(b.batch_id, b.status, b.decided_at, b.categories, sorted(map(repr, b.results))) for b in from_long] == \
        [(b.batch_id, b.status, b.decided_at, b.categories, sorted(map(repr, b.results))) for b in from_wide]
    with app.uow() as uow:
        summary = batch_import.import_batches(uow.session, app.clock.now(), AUTHOR, long, "csv")
        uow.commit()
        results = uow.session.scalar(select(func.count()).select_from(ResultRow)) or 0
    assert summary.rows == 60 and results == sum(len(b.results) for b in from_wide)


def test_long_format_problems_name_the_line_of_the_original_row(app: Oospath) -> None:
    # REQ: OOS-20 — a unit that differs from the specification's, rows that disagree, an attribute twice
    seed_cart19(app)
    header = "batch_id,product_code,decided_at,status,attribute,value,unit\n"
    rows = ["L-1,CART19-AUTH,2026-03-02T09:30:00Z,released,viability,91.0,%",      # line 2
            "L-1,CART19-AUTH,2026-03-02T09:30:00Z,released,endotoxin,0.4,EU/ml",   # line 3: unit
            "L-2,CART19-AUTH,2026-03-03T09:30:00Z,released,viability,92.0,%",      # line 4
            "L-1,CART19-AUTH,2026-03-02T09:30:00Z,oos_administered,sterility,no growth,",  # line 5: status
            "L-2,CART19-AUTH,2026-03-03T09:30:00Z,released,viability,93.0,%"]      # line 6: twice
    content = (header + "\n".join(rows) + "\n").encode()
    with app.uow() as uow, pytest.raises(ImportRefused) as refused:
        batch_import.import_batches(uow.session, app.clock.now(), AUTHOR, content, "csv")
    found = {(e.line, e.field): e.message for e in refused.value.errors}
    assert set(found) == {(3, "unit"), (5, "status"), (6, "attribute")}
    assert "'EU/ml' differs from the specification's 'EU/mL'" in found[(3, "unit")]
    assert "disagree" in found[(5, "status")] and "line 2" in found[(5, "status")]
    assert "line 4" in found[(6, "attribute")]
    with app.uow() as uow:
        assert (uow.session.scalar(select(func.count()).select_from(BatchRow)) or 0) == 0


# ---- the command line ------------------------------------------------------------------------------------------
def test_catalog_import_and_approve_from_the_shell(tmp_path: Path) -> None:
    # REQ: OOS-24, OOS-25
    var = tmp_path / "var"
    env = {"OOSPATH_VAR_DIR": str(var), "OOSPATH_DATABASE_URL": f"sqlite:///{var / 'oospath.db'}"}
    installation = bootstrap(Settings(var_dir=var, database_url=env["OOSPATH_DATABASE_URL"]))
    with installation.uow() as uow:
        accounts.add_organisation(uow.session, installation.clock.now(), "Helix", "manufacturer")
        accounts.add_user(uow.session, installation.clock.now(), "anna.keller", "Anna Keller", PASSWORD,
                          [("Helix", "qa")])
        uow.commit()
    installation.db.dispose()
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(BAD_FILE)
    refused = CliRunner().invoke(main, ["catalog", "import", str(bad), "--user", "ben.schmidt"], env=env)
    assert refused.exit_code == 1 and "line 11, field specifications/0/limits/0/unit" in refused.output
    imported = CliRunner().invoke(main, ["catalog", "import", str(EXAMPLE), "--user", "ben.schmidt"], env=env)
    assert imported.exit_code == 0, imported.output
    assert "TIL-MEL-IMP v1 (awaiting QA approval)" in imported.output
    wrong = CliRunner().invoke(main, ["catalog", "approve", PRODUCT, "1", "--user", "anna.keller"],
                               input="wrong-password\n", env=env)
    assert wrong.exit_code == 1 and "OOS-24" in wrong.output
    approved = CliRunner().invoke(main, ["catalog", "approve", PRODUCT, "1", "--user", "anna.keller"],
                                  input=f"{PASSWORD}\n", env=env)
    assert approved.exit_code == 0, approved.output
    listed = CliRunner().invoke(main, ["catalog", "list", "--product", PRODUCT], env=env)
    assert "approved" in listed.output and "anna.keller" in listed.output
