"""The product pages: products, and one product with its specification versions and QA's signed approval or
rejection of a version awaiting it (change control: OOS-01, OOS-24, OOS-25).

Pages call the same services as ``/api/v1/products`` and ``/api/v1/specifications`` under the same roles: the
catalogue's readers see the pages, only QA decides, and the service refuses the creator of a version as its
approver (segregation of duties) and a wrong password (the signature); a refusal is shown on the product page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from api.access import current_actor
from api.app import container
from api.blueprints.catalog import CATALOGUE_READERS
from api.declarations import Param, page, roles
from api.web.pages import render
from engine.services import catalog, catalog_approval, signatures
from engine.services.catalog import AWAITING_APPROVAL
from engine.services.errors import ServiceError
from engine.store.models import SpecificationRow

bp = Blueprint("web_products", __name__, url_prefix="/ui/products", template_folder="templates")
READER_POLICY = roles(*CATALOGUE_READERS)
DECIDER_POLICY = roles(catalog_approval.APPROVER_ROLE)
VERSION_PATH = {"product_code": Param("product code, e.g. CART19-AUTH"),
                "version": Param("specification version", {"type": "integer", "minimum": 1})}


@bp.get("")
@page("Products and the status of their specification versions", policy=READER_POLICY)
def product_list() -> tuple[str, int]:
    with container().uow() as uow:
        versions: dict[str, list[SpecificationRow]] = {}
        for spec in catalog.list_specifications(uow.session):
            versions.setdefault(spec.product_code, []).append(spec)
        products = [{"code": p.code, "name": p.name, "kind": p.kind, "cell_tissue_based": p.cell_tissue_based,
                     "atmp_class": p.atmp_class, "versions": len(versions.get(p.code, [])),
                     "awaiting": sum(s.status == AWAITING_APPROVAL for s in versions.get(p.code, []))}
                    for p in catalog.list_products(uow.session)]
    return render("products.html", products=products)


@bp.get("/<product_code>")
@page("A product: its specification versions, limits, who created and approved them, QA's signed decision",
      policy=READER_POLICY, path={"product_code": VERSION_PATH["product_code"]})
def product_page(product_code: str) -> tuple[str, int]:
    return _product_page(product_code, decided=request.args.get("decided"))


@bp.post("/<product_code>/specifications/<int:version>/approval")
@page("QA approves a specification version with an electronic signature", policy=DECIDER_POLICY, path=VERSION_PATH)
def approve(product_code: str, version: int) -> BaseResponse | tuple[str, int]:
    return _decide(product_code, version, "approved")


@bp.post("/<product_code>/specifications/<int:version>/rejection")
@page("QA rejects a specification version, with a reason and an electronic signature", policy=DECIDER_POLICY,
      path=VERSION_PATH)
def reject(product_code: str, version: int) -> BaseResponse | tuple[str, int]:
    return _decide(product_code, version, "rejected")


def _decide(product_code: str, version: int, outcome: str) -> BaseResponse | tuple[str, int]:
    """The signed decision through the catalogue's change control; a refusal is shown on the product page."""
    app, actor = container(), current_actor()
    credentials = signatures.Credentials(request.form.get("signer") or None, request.form.get("password") or None,
                                         None, settings=app.settings)
    reason = request.form.get("reason", "")
    try:
        with app.uow() as uow:
            if outcome == "approved":
                catalog_approval.approve_specification(uow.session, app.clock.now(), actor, product_code, version,
                                                       credentials)
            else:
                catalog_approval.reject_specification(uow.session, app.clock.now(), actor, product_code, version,
                                                      credentials, reason)
            uow.commit()
    except ServiceError as refused:
        if refused.status == 404:
            raise
        return _product_page(product_code, refusal=refused.detail, refused_version=version, reason=reason,
                             status=refused.status)
    return redirect(f"/ui/products/{product_code}?decided={version}-{outcome}#v{version}")


def _product_page(product_code: str, *, decided: str | None = None, refusal: str | None = None,
                  refused_version: int | None = None, reason: str = "", status: int = 200) -> tuple[str, int]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        product = catalog.get_product(uow.session, product_code)
        versions = [_version_view(uow.session, s) for s in catalog.list_specifications(uow.session, product_code)]
        return render("products_detail.html", status, product=product, versions=list(reversed(versions)),
                      can_decide=actor.has_role(catalog_approval.APPROVER_ROLE),
                      first_signing=signatures.first_signing(uow.session, actor), decided=_decided(decided),
                      refusal=refusal, refused_version=refused_version, reason=reason)


def _version_view(session: Session, spec: SpecificationRow) -> dict[str, Any]:
    return {"version": spec.version, "effective_from": spec.effective_from, "status": spec.status,
            "limits": spec.limits, "created_by": spec.created_by, "approved_by": spec.approved_by,
            "approved_at": spec.approved_at, "awaiting": spec.status == AWAITING_APPROVAL,
            "signature": catalog_approval.decision_manifestation(session, spec)}


def _decided(text: str | None) -> dict[str, str] | None:
    """The confirmation after a decision (``?decided=<version>-<approved|rejected>``)."""
    version, _, outcome = (text or "").partition("-")
    if not version.isdigit() or outcome not in ("approved", "rejected"):
        return None
    return {"version": version, "outcome": outcome}
