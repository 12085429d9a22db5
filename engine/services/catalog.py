"""Products, specifications and batches with their test results (OOS-01, OOS-02).

Rows and domain objects are converted here, so the rules in ``engine.domain`` stay
pure and every caller (API, seed, LIMS import) shares one code path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.domain.specification_limits import AttributeLimit, SpecificationError
from engine.domain.specifications import (
    BatchRecord,
    OosFinding,
    Product,
    ProductKind,
    Specification,
    TestResult,
    detect_oos,
    specification_in_force,
)
from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, InvalidData, NotFound, RuleViolation
from engine.services.identity import Actor
from engine.store.models import BatchRow, ProductRow, SpecificationRow, TestResultRow

APPROVED, AWAITING_APPROVAL, REJECTED = "approved", "awaiting_approval", "rejected"


def _number_text(value: Any) -> str | None:
    return None if value is None else str(value)


def limit_to_json(limit: AttributeLimit) -> dict[str, Any]:
    return {
        "attribute": limit.attribute,
        "unit": limit.unit,
        "lower": _number_text(limit.lower),
        "lower_inclusive": limit.lower_inclusive,
        "upper": _number_text(limit.upper),
        "upper_inclusive": limit.upper_inclusive,
        "accepted_results": list(limit.accepted_results) if limit.accepted_results is not None else None,
        "limit": limit.describe(),
    }


def _limit_value(data: dict[str, Any], key: str) -> Decimal | None:
    """A limit as an exact, finite decimal (numbers or numeric text, e.g. "80.0"), or a 422 naming it."""
    value = data.get(key)
    if value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError as exc:
        raise InvalidData(f"limits/{data.get('attribute')}/{key}: {value!r} is not a number") from exc
    if not number.is_finite():
        raise InvalidData(f"limits/{data.get('attribute')}/{key}: {value!r} is not a finite number")
    return number


def limit_from_json(data: dict[str, Any]) -> AttributeLimit:
    accepted = data.get("accepted_results")
    return AttributeLimit(
        attribute=data["attribute"],
        unit=data.get("unit"),
        lower=_limit_value(data, "lower"),
        lower_inclusive=data.get("lower_inclusive", True),
        upper=_limit_value(data, "upper"),
        upper_inclusive=data.get("upper_inclusive", True),
        accepted_results=tuple(accepted) if accepted is not None else None,
    )


def product_from_row(row: ProductRow) -> Product:
    return Product(row.code, row.name, ProductKind(row.kind), row.cell_tissue_based, row.atmp_class)


def specification_from_row(row: SpecificationRow) -> Specification:
    return Specification(row.product_code, row.version, row.effective_from,
                         tuple(limit_from_json(item) for item in row.limits))


def parse_time(text: str, field: str) -> datetime:
    """An ISO 8601 time with its zone ('Z' accepted); GMP records store UTC, so a naive time is refused."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidData(f"{field}: '{text}' is not an ISO 8601 date-time") from exc
    if value.tzinfo is None:
        raise InvalidData(f"{field}: give a time zone (e.g. 'Z' or '+01:00'); GMP records store UTC")
    return value


def batch_record_from_json(data: dict[str, Any]) -> BatchRecord:
    """A batch with its release results as the API and the LIMS contract send it (same shape in both)."""
    return domain_call(lambda: BatchRecord(
        batch_id=data["batch_id"], product_code=data["product_code"],
        manufactured_at=parse_time(data["manufactured_at"], "manufactured_at"),
        imported=data.get("imported", False), manufacturer=data["manufacturer"], importer=data.get("importer"),
        mah=data.get("mah"), sponsor=data.get("sponsor"), treating_site=data["treating_site"],
        treating_country=data["treating_country"],
        results=tuple(TestResult(r["attribute"], r.get("value"), r.get("text"), r.get("unit"))
                      for r in data["results"])))


def domain_call(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Domain errors become 422 problems naming what is wrong with the data."""
    try:
        return func(*args, **kwargs)
    except SpecificationError as exc:
        raise InvalidData(str(exc)) from exc


# ---- products ---------------------------------------------------------------------------------
def add_product(session: Session, clock: Clock, product: Product, actor: Actor) -> ProductRow:
    if session.get(ProductRow, product.code) is not None:
        raise Conflict(f"product {product.code} already exists")
    row = ProductRow(code=product.code, name=product.name, kind=str(product.kind),
                     cell_tissue_based=product.cell_tissue_based, atmp_class=product.atmp_class)
    session.add(row)
    audit.append(session, clock.now(), actor, AuditEvent("product.created", data_after={"code": product.code}))
    return row


def get_product(session: Session, code: str) -> ProductRow:
    row = session.get(ProductRow, code)
    if row is None:
        raise NotFound(f"product {code} does not exist")
    return row


def list_products(session: Session) -> list[ProductRow]:
    return list(session.scalars(select(ProductRow).order_by(ProductRow.code)))


# ---- specifications ---------------------------------------------------------------------------
def add_specification(session: Session, clock: Clock, spec: Specification, actor: Actor) -> SpecificationRow:
    """Store a new version; it awaits a signed QA approval (OOS-24) unless the system seeds the release's data."""
    get_product(session, spec.product_code)
    exists = session.scalar(select(SpecificationRow).where(
        SpecificationRow.product_code == spec.product_code, SpecificationRow.version == spec.version))
    if exists is not None:
        raise Conflict(f"specification {spec.product_code} v{spec.version} already exists; "
                       "approved versions are never changed: add the next version")
    same_instant = session.scalar(select(SpecificationRow).where(
        SpecificationRow.product_code == spec.product_code, SpecificationRow.effective_from == spec.effective_from))
    if same_instant is not None:
        raise RuleViolation("OOS-01", f"specification {spec.product_code} v{same_instant.version} is already "
                                      f"effective from {spec.effective_from.isoformat()}: one version is in force "
                                      f"at a time, give v{spec.version} its own effective_from")
    # The release's own seed data is approved by the system at once, as the release's processes are (definitions.py).
    release = actor.is_system and actor.via == "service"
    row = SpecificationRow(product_code=spec.product_code, version=spec.version,
                           effective_from=spec.effective_from, limits=[limit_to_json(x) for x in spec.limits],
                           status=APPROVED if release else AWAITING_APPROVAL, created_by=actor.user,
                           approved_by=actor.user if release else None, approved_at=clock.now() if release else None)
    session.add(row)
    audit.append(session, clock.now(), actor, AuditEvent(
        "specification.created", data_after={"product": spec.product_code, "version": spec.version,
                                             "status": row.status}))
    if release:
        audit.append(session, clock.now(), actor, AuditEvent(
            "specification.approved", data_after={"product": spec.product_code, "version": spec.version,
                                                  "approved_by": actor.user},
            reason="the release's seed data: approved by the system, no QA signature"))
    return row


def list_specifications(session: Session, product_code: str | None = None) -> list[SpecificationRow]:
    query = select(SpecificationRow).order_by(SpecificationRow.product_code, SpecificationRow.version)
    if product_code:
        query = query.where(SpecificationRow.product_code == product_code)
    return list(session.scalars(query))


def specifications_in_effect(session: Session, product_code: str | None = None) -> list[Specification]:
    """The versions that can be in force (OOS-01): approved by QA (OOS-24); awaiting or rejected ones never are."""
    query = select(SpecificationRow).where(SpecificationRow.status == APPROVED).order_by(
        SpecificationRow.product_code, SpecificationRow.version)
    if product_code:
        query = query.where(SpecificationRow.product_code == product_code)
    return [specification_from_row(row) for row in session.scalars(query)]


# ---- batches ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchAssessment:
    """A batch judged against the specification in force when it was manufactured."""

    batch: BatchRow
    product: Product
    specification: Specification
    results: list[TestResultRow]
    findings: list[OosFinding]

    @property
    def out_of_specification(self) -> bool:
        return bool(self.findings)


def _results_of(session: Session, batch_id: str) -> list[TestResultRow]:
    return list(session.scalars(select(TestResultRow).where(TestResultRow.batch_id == batch_id)
                                .order_by(TestResultRow.id)))


def assess_batch(session: Session, batch_id: str) -> BatchAssessment:
    """OOS-01: the batch's results against the specification version in force."""
    batch = get_batch(session, batch_id)
    product = product_from_row(get_product(session, batch.product_code))
    specs = specifications_in_effect(session, batch.product_code)
    spec = domain_call(specification_in_force, specs, batch.manufactured_at, product_code=batch.product_code)
    results = _results_of(session, batch_id)
    domain_results = [TestResult(r.attribute, r.value, r.text, r.unit) for r in results]
    findings = domain_call(detect_oos, domain_results, spec)
    return BatchAssessment(batch, product, spec, results, findings)


def register_batch(session: Session, clock: Clock, record: BatchRecord, actor: Actor) -> BatchAssessment:
    """Store a batch and its release results, then classify it (within specification or OOS)."""
    if session.get(BatchRow, record.batch_id) is not None:
        raise Conflict(f"batch {record.batch_id} already exists")
    get_product(session, record.product_code)
    now = clock.now()
    session.add(BatchRow(
        batch_id=record.batch_id, product_code=record.product_code, manufactured_at=record.manufactured_at,
        imported=record.imported, manufacturer=record.manufacturer, importer=record.importer, mah=record.mah,
        sponsor=record.sponsor, treating_site=record.treating_site, treating_country=record.treating_country,
        status="pending",
    ))
    session.flush()
    _add_results(session, record.batch_id, record.results, now)
    assessment = assess_batch(session, record.batch_id)
    assessment.batch.status = "out_of_specification" if assessment.out_of_specification else "within_specification"
    audit.append(session, now, actor, AuditEvent(
        "batch.registered",
        data_after={"batch_id": record.batch_id, "status": assessment.batch.status,
                    "specification_version": assessment.specification.version,
                    "findings": [f.as_dict() for f in assessment.findings]},
    ))
    return assessment


def _add_results(session: Session, batch_id: str, results: Iterable[TestResult], now: Any) -> None:
    for result in results:
        value = float(result.value) if result.value is not None else None
        session.add(TestResultRow(batch_id=batch_id, attribute=result.attribute, value=value,
                                  text=result.text, unit=result.unit, reported_at=now))
    session.flush()


def list_batches(session: Session, status: str | None = None) -> list[BatchRow]:
    query = select(BatchRow).order_by(BatchRow.manufactured_at.desc(), BatchRow.batch_id)
    if status:
        query = query.where(BatchRow.status == status)
    return list(session.scalars(query))


def get_batch(session: Session, batch_id: str) -> BatchRow:
    row = session.get(BatchRow, batch_id)
    if row is None:
        raise NotFound(f"batch {batch_id} does not exist")
    return row
