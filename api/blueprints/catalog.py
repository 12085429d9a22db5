"""/api/v1/products, /api/v1/specifications, /api/v1/batches (with test results)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from api.access import current_actor, current_body, signing_credentials
from api.app import container
from api.declarations import Param, declare, roles
from api.response_shapes import BATCH_STATUSES
from api.views import iso
from engine.domain.specifications import Product, ProductKind, Specification
from engine.services import access, catalog, catalog_approval, pharmacovigilance, qp
from engine.store.models import BatchRow, ProductRow, SpecificationRow

bp = Blueprint("catalog", __name__, url_prefix="/api/v1")
CATALOGUE_READERS = ("qa", "qp", "mah_ra", "importer_qa", "auditor")
BATCH_ID = {"batch_id": Param("batch id, e.g. CART19-25-0102")}
SPEC_VERSION = {"product_code": Param("product code, e.g. CART19-AUTH"),
                "version": Param("specification version", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1})}


def product_view(p: ProductRow) -> dict[str, Any]:
    return {"code": p.code, "name": p.name, "kind": p.kind, "cell_tissue_based": p.cell_tissue_based,
            "atmp_class": p.atmp_class}


def specification_view(session: Session, s: SpecificationRow) -> dict[str, Any]:
    """A version with its change-control status and the manifestation of QA's signed decision (OOS-24)."""
    return {"product_code": s.product_code, "version": s.version, "effective_from": iso(s.effective_from),
            "limits": s.limits, "status": s.status, "created_by": s.created_by, "approved_by": s.approved_by,
            "approved_at": iso(s.approved_at), "signature": catalog_approval.decision_manifestation(session, s),
            "links": {"self": f"/api/v1/specifications/{s.product_code}/versions/{s.version}"}}


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
@declare("listProducts", "catalogue", "Products", policy=roles(*CATALOGUE_READERS),
         ok={"200": ("Products by code", "ProductList")})
def list_products() -> dict[str, Any]:
    with container().uow() as uow:
        return {"items": [product_view(p) for p in catalog.list_products(uow.session)]}


@bp.post("/products")
@declare("addProduct", "catalogue", "Add a product", policy=roles("qa"), ok={"201": ("Created", "ProductView")},
         errors=("400", "409"), body="Product",
         description="OOS-02: only cell/tissue-based products can enter the pathway. Role qa (OOS-25).")
def add_product() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), current_body()
    product = Product(body["code"], body["name"], ProductKind(body["kind"]), body["cell_tissue_based"],
                      body.get("atmp_class", "CTGTP"))
    with app.uow() as uow:
        row = catalog.add_product(uow.session, app.clock, product, actor)
        uow.commit()
        return product_view(row), 201


@bp.get("/specifications")
@declare("listSpecifications", "catalogue", "Specification versions", policy=roles(*CATALOGUE_READERS),
         ok={"200": ("Versions by product and version", "SpecificationList")},
         query={"product_code": Param("only this product's versions")})
def list_specifications() -> dict[str, Any]:
    with container().uow() as uow:
        rows = catalog.list_specifications(uow.session, request.args.get("product_code"))
        return {"items": [specification_view(uow.session, s) for s in rows]}


@bp.post("/specifications")
@declare("addSpecification", "catalogue", "Propose a specification version", policy=roles("qa"),
         ok={"201": ("Created, awaiting QA approval", "SpecificationView")}, errors=("400", "404", "409"),
         body="Specification",
         description="OOS-01: versions are never changed; add the next version instead. The version takes effect "
                     "only once another QA user approved it with a signature (OOS-24). Role qa (OOS-25).")
def add_specification() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), current_body()
    spec = catalog.domain_call(lambda: Specification(
        body["product_code"], body["version"], catalog.parse_time(body["effective_from"], "effective_from"),
        tuple(catalog.limit_from_json(item) for item in body["limits"])))
    with app.uow() as uow:
        row = catalog.add_specification(uow.session, app.clock, spec, actor)
        uow.commit()
        return specification_view(uow.session, row), 201


@bp.get("/specifications/<product_code>/versions/<int:version>")
@declare("getSpecificationVersion", "catalogue", "One specification version", policy=roles(*CATALOGUE_READERS),
         ok={"200": ("The version, its status and QA's signed decision", "SpecificationView")}, errors=("404",),
         path=SPEC_VERSION)
def get_specification(product_code: str, version: int) -> dict[str, Any]:
    with container().uow() as uow:
        row = catalog_approval.get_specification(uow.session, product_code, version)
        return specification_view(uow.session, row)


@bp.post("/specifications/<product_code>/versions/<int:version>/approval")
@declare("approveSpecificationVersion", "catalogue", "Approve a specification version (QA, signed)",
         policy=roles("qa"), ok={"200": ("Approved: batches are judged against it from its effective time",
                                         "SpecificationView")},
         errors=("400", "404", "409"), body="SpecificationApproval", path=SPEC_VERSION,
         description="Change control (OOS-24, OOS-25): a version takes effect only once a QA user other than its "
                     "creator approves it, re-entering the password (signature meaning `approval`, binding the "
                     "SHA-256 of the version's content).")
def approve_specification(product_code: str, version: int) -> dict[str, Any]:
    return _decide(catalog_approval.approve_specification, product_code, version)


@bp.post("/specifications/<product_code>/versions/<int:version>/rejection")
@declare("rejectSpecificationVersion", "catalogue", "Reject a specification version (QA, signed)",
         policy=roles("qa"), ok={"200": ("Rejected: the version never takes effect", "SpecificationView")},
         errors=("400", "404", "409"), body="SpecificationRejection", path=SPEC_VERSION,
         description="Change control (OOS-24): QA rejects a version awaiting approval, with a reason and a signature.")
def reject_specification(product_code: str, version: int) -> dict[str, Any]:
    return _decide(catalog_approval.reject_specification, product_code, version, current_body()["reason"])


def _decide(decision: Any, product_code: str, version: int, *reason: str) -> dict[str, Any]:
    """QA's signed approval or rejection of a specification version (change control, OOS-24)."""
    app, actor = container(), current_actor()
    with app.uow() as uow:
        row = decision(uow.session, app.clock.now(), actor, product_code, version,
                       signing_credentials(current_body()["signature"]), *reason)
        uow.commit()
        return specification_view(uow.session, row)


@bp.get("/batches")
@declare("listBatches", "catalogue", "Batches of the caller's organisation", policy=roles(*CATALOGUE_READERS),
         ok={"200": ("Batches the caller's organisation is party to, newest first (OOS-25)", "BatchList")},
         query={"status": Param("only batches in this status", {"enum": BATCH_STATUSES})})
def list_batches() -> dict[str, Any]:
    actor = current_actor()
    with container().uow() as uow:
        rows = [b for b in catalog.list_batches(uow.session, request.args.get("status"))
                if access.batch_shared(actor, b)]
        return {"items": [{"batch_id": b.batch_id, "product_code": b.product_code, "status": b.status,
                           "manufactured_at": iso(b.manufactured_at)} for b in rows]}


@bp.post("/batches")
@declare("registerBatch", "catalogue", "Register a batch with its release results", policy=roles("qa"),
         ok={"201": ("Registered and assessed against the specification in force", "BatchView")},
         errors=("400", "404", "409"), body="Batch",
         description="OOS-01: the results are judged against the specification version in force at manufacture; "
                     "units must match exactly (a mismatch is 422). Role qa (OOS-25).")
def register_batch() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), current_body()
    record = catalog.batch_record_from_json(body)
    with app.uow() as uow:
        assessment = catalog.register_batch(uow.session, app.clock, record, actor)
        uow.commit()
        return batch_view(assessment), 201


@bp.get("/batches/<batch_id>")
@declare("getBatch", "catalogue", "A batch assessed against its specification",
         policy=roles(*CATALOGUE_READERS, scope="batch"),
         ok={"200": ("The batch, its results and OOS findings", "BatchView")}, errors=("422",), path=BATCH_ID)
def get_batch(batch_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        return batch_view(catalog.assess_batch(uow.session, batch_id))


@bp.post("/batches/<batch_id>/certification")
@declare("certifyBatch", "catalogue", "QP certification of a batch", policy=roles("qp", scope="batch"),
         ok={"200": ("Certified (a batch within specification)", "Certification")}, errors=("404", "422"),
         path=BATCH_ID,
         description="OOS-08: refused with a problem naming OOS-08 for any batch with an OOS case; the attempt is "
                     "recorded in the audit trail.")
def certify(batch_id: str) -> dict[str, Any]:
    """QP certification; refused for any batch with an OOS case, and the attempt is audited (OOS-08)."""
    app = container()
    batch = qp.certify_batch(app.sessions, app.clock, batch_id, current_actor())
    return {"batch_id": batch.batch_id, "status": batch.status}


PV_KEYS = ("pv_case_reference", "patient_pseudonym", "chain_of_identity_id", "case_id", "batch_id")


@bp.get("/pharmacovigilance/administrations")
@declare("findAdministrations", "pharmacovigilance", "Find administered OOS doses",
         policy=roles("qa", "mah_ra", "physician", "sponsor", "auditor"),
         ok={"200": ("Matching administrations with their OOS decision and PV reference", "AdministrationList")},
         query={key: Param(f"match on {key}") for key in PV_KEYS},
         description="OOS-19: from a PV reference, patient pseudonym, chain-of-identity id, case or batch to the "
                     "others; only cases the caller's organisation is party to (OOS-25).")
def administrations() -> dict[str, Any]:
    actor = current_actor()
    with container().uow() as uow:
        found = pharmacovigilance.find_administrations(uow.session, **request.args.to_dict())
        visible = access.case_visibility(uow.session, actor)
        return {"items": [a for a in found if visible(a["case_id"])]}
