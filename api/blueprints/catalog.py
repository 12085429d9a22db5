"""/api/v1/products, /api/v1/specifications, /api/v1/batches (with test results)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api import schemas
from api.app import container
from api.identity import current_actor
from api.util import iso, json_body
from engine.domain.specifications import Product, ProductKind, Specification
from engine.services import catalog, pharmacovigilance, qp
from engine.store.models import BatchRow, ProductRow, SpecificationRow

bp = Blueprint("catalog", __name__, url_prefix="/api/v1")


def product_view(p: ProductRow) -> dict[str, Any]:
    return {"code": p.code, "name": p.name, "kind": p.kind, "cell_tissue_based": p.cell_tissue_based,
            "atmp_class": p.atmp_class}


def specification_view(s: SpecificationRow) -> dict[str, Any]:
    return {"product_code": s.product_code, "version": s.version, "effective_from": iso(s.effective_from),
            "limits": s.limits}


def batch_view(assessment: catalog.BatchAssessment) -> dict[str, Any]:
    b: BatchRow = assessment.batch
    return {
        "batch_id": b.batch_id, "product_code": b.product_code, "manufactured_at": iso(b.manufactured_at),
        "imported": b.imported, "manufacturer": b.manufacturer, "importer": b.importer, "mah": b.mah,
        "sponsor": b.sponsor, "treating_site": b.treating_site, "treating_country": b.treating_country,
        "status": b.status, "specification_version": assessment.specification.version,
        "out_of_specification": assessment.out_of_specification,
        "findings": [f.as_dict() for f in assessment.findings],
        "results": [{"attribute": r.attribute, "value": r.value, "text": r.text, "unit": r.unit,
                     "reported_at": iso(r.reported_at)} for r in assessment.results],
    }


@bp.get("/products")
def list_products() -> dict[str, Any]:
    with container().uow() as uow:
        return {"items": [product_view(p) for p in catalog.list_products(uow.session)]}


@bp.post("/products")
def add_product() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), json_body(schemas.PRODUCT)
    product = Product(body["code"], body["name"], ProductKind(body["kind"]), body["cell_tissue_based"],
                      body.get("atmp_class", "CTGTP"))
    with app.uow() as uow:
        row = catalog.add_product(uow.session, app.clock, product, actor)
        uow.commit()
        return product_view(row), 201


@bp.get("/specifications")
def list_specifications() -> dict[str, Any]:
    with container().uow() as uow:
        rows = catalog.list_specifications(uow.session, request.args.get("product_code"))
        return {"items": [specification_view(s) for s in rows]}


@bp.post("/specifications")
def add_specification() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), json_body(schemas.SPECIFICATION)
    spec = catalog.domain_call(lambda: Specification(
        body["product_code"], body["version"], catalog.parse_time(body["effective_from"], "effective_from"),
        tuple(catalog.limit_from_json(item) for item in body["limits"])))
    with app.uow() as uow:
        row = catalog.add_specification(uow.session, app.clock, spec, actor)
        uow.commit()
        return specification_view(row), 201


@bp.get("/batches")
def list_batches() -> dict[str, Any]:
    with container().uow() as uow:
        rows = catalog.list_batches(uow.session, request.args.get("status"))
        return {"items": [{"batch_id": b.batch_id, "product_code": b.product_code, "status": b.status,
                           "manufactured_at": iso(b.manufactured_at)} for b in rows]}


@bp.post("/batches")
def register_batch() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), json_body(schemas.BATCH)
    record = catalog.batch_record_from_json(body)
    with app.uow() as uow:
        assessment = catalog.register_batch(uow.session, app.clock, record, actor)
        uow.commit()
        return batch_view(assessment), 201


@bp.get("/batches/<batch_id>")
def get_batch(batch_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        return batch_view(catalog.assess_batch(uow.session, batch_id))


@bp.post("/batches/<batch_id>/certification")
def certify(batch_id: str) -> dict[str, Any]:
    """QP certification; refused for any batch with an OOS case, and the attempt is audited (OOS-08)."""
    app = container()
    batch = qp.certify_batch(app.sessions, app.clock, batch_id, current_actor())
    return {"batch_id": batch.batch_id, "status": batch.status}


@bp.get("/pharmacovigilance/administrations")
def administrations() -> dict[str, Any]:
    """OOS-19: from a PV reference, patient pseudonym, chain-of-identity id, case or batch to the others."""
    with container().uow() as uow:
        return {"items": pharmacovigilance.find_administrations(uow.session, **request.args.to_dict())}
