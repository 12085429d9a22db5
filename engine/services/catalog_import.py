"""Import of products and specification versions from a YAML or JSON file (OOS-01, OOS-02, OOS-24).

Why this exists: a QA user setting up a new product writes its release specification
once, in a file that can be reviewed like any controlled document, instead of calling
the API by hand. The file has two lists (either may be left out)::

    products:
      - {code: TIL-MEL, name: ..., kind: investigational, cell_tissue_based: true}
    specifications:
      - product_code: TIL-MEL
        version: 1
        effective_from: 2026-01-01T00:00:00Z
        limits:
          - {attribute: viability, unit: "%", lower: 70}
          - {attribute: sterility, accepted_results: [no growth]}

All or nothing, like the batch import (:mod:`engine.services.batch_import`): every entry
is checked first and each problem is reported with the line of the offending node and
its field; when anything is wrong nothing is written. Limits keep the text of the
number as written (``80.0`` stays ``80.0``), units must be ones the catalogue knows
(so ``EU/ml`` for ``EU/mL`` is refused, never matched loosely), and every version
imported awaits a signed QA approval before it judges any batch
(:mod:`engine.services.catalog_approval`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.domain.specification_limits import AttributeLimit, SpecificationError
from engine.domain.specifications import Product, ProductKind, Specification
from engine.services import audit, catalog
from engine.services.audit import AuditEvent
from engine.services.batch_file import MAX_REPORTED_ERRORS, ImportRefused, RowError
from engine.services.errors import InvalidData
from engine.services.identity import Actor
from engine.store.models import ProductRow, SpecificationRow

#: Units a limit may name: the catalogue's and the usual ones of cell/tissue-based ATMP release testing.
RECOGNISED_UNITS = frozenset({
    "%", "x10^6 cells", "x10^8 cells", "x10^9 cells", "cells", "cells/mL", "cells/µL", "cells/kg",
    "x10^6 cells/kg", "copies/transduced cell", "copies/cell", "copies/µg DNA", "pg/mL", "ng/mL", "µg/mL",
    "mg/mL", "EU/mL", "EU/kg", "IU/mL", "CFU/mL", "x10^13 vg/mL", "vg/mL", "mL", "pH", "mOsm/kg", "h", "days",
})
PRODUCT_FIELDS = {"code", "name", "kind", "cell_tissue_based", "atmp_class"}
SPECIFICATION_FIELDS = {"product_code", "version", "effective_from", "limits"}
LIMIT_FIELDS = {"attribute", "unit", "lower", "lower_inclusive", "upper", "upper_inclusive", "accepted_results"}
NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


@dataclass(frozen=True)
class CatalogImportSummary:
    products: list[str]
    specifications: list[str]  # "CODE v1", awaiting approval
    sha256: str


@dataclass(frozen=True)
class _Entry:
    """One node of the file: its plain value, the line it starts on (1-based) and its path for messages."""

    node: yaml.Node
    path: str

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def items(self) -> dict[str, _Entry]:
        assert isinstance(self.node, yaml.MappingNode)
        return {str(key.value): _Entry(value, f"{self.path}/{key.value}".lstrip("/"))
                for key, value in self.node.value}

    def elements(self) -> list[_Entry]:
        assert isinstance(self.node, yaml.SequenceNode)
        return [_Entry(item, f"{self.path}/{index}".lstrip("/")) for index, item in enumerate(self.node.value)]


def compose(text: str, is_json: bool) -> yaml.Node | None:
    """The file's node tree (JSON is read as YAML, which it is a subset of, so every node has its line)."""
    if is_json:
        text = text.replace("\t", "    ")  # a tab is only whitespace in JSON (never raw inside a string)
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ImportRefused([RowError(line, "(file)", f"not valid {'JSON' if is_json else 'YAML'}: "
                                                      f"{exc.problem or exc}")], 0) from None
    except yaml.YAMLError as exc:
        raise ImportRefused([RowError(1, "(file)", f"not valid YAML: {exc}")], 0) from None


class _CatalogChecker:
    """Turns the node tree into products and specifications, collecting (line, field, message) problems."""

    def __init__(self, session: Session) -> None:
        self.errors: list[RowError] = []
        self.known_products = set(session.scalars(select(ProductRow.code)))
        self.stored_versions = {(code, version): effective for code, version, effective in session.execute(
            select(SpecificationRow.product_code, SpecificationRow.version, SpecificationRow.effective_from))}
        self.products: list[Product] = []
        self.refused_products: set[str] = set()  # in the file, but with problems of their own
        self.specifications: list[Specification] = []
        self.seen_versions: dict[tuple[str, int], int] = {}
        self.seen_instants: dict[tuple[str, datetime], tuple[int, int]] = {}
        self.loader = yaml.SafeLoader("")

    def fail(self, entry: _Entry, message: str, field: str | None = None) -> None:
        self.errors.append(RowError(entry.line, field or entry.path, message))

    # ---- scalars ------------------------------------------------------------------------------------------------
    def scalar(self, entry: _Entry) -> Any:
        if not isinstance(entry.node, yaml.ScalarNode):
            self.fail(entry, "must be a single value, not a list or a mapping")
            return None
        return self.loader.construct_object(entry.node)

    def text(self, fields: dict[str, _Entry], name: str, parent: _Entry, *, required: bool = True,
             max_length: int = 300) -> str | None:
        entry = fields.get(name)
        if entry is None:
            if required:
                self.fail(parent, "is required", f"{parent.path}/{name}")
            return None
        value = self.scalar(entry)
        if not isinstance(value, str) or not value.strip():
            self.fail(entry, f"must be non-empty text, got {value!r}")
            return None
        if len(value) > max_length:
            self.fail(entry, f"longer than {max_length} characters")
            return None
        return value.strip()

    def flag(self, fields: dict[str, _Entry], name: str, parent: _Entry, default: bool | None = None) -> bool | None:
        entry = fields.get(name)
        if entry is None:
            if default is None:
                self.fail(parent, "is required (true or false)", f"{parent.path}/{name}")
            return default
        value = self.scalar(entry)
        if not isinstance(value, bool):
            self.fail(entry, f"must be true or false, got {value!r}")
            return None
        return value

    def number_text(self, entry: _Entry | None) -> str | None:
        """A limit as the text written in the file (so 80.0 stays 80.0, never a binary float)."""
        if entry is None:
            return None
        node = entry.node
        if isinstance(node, yaml.ScalarNode) and node.tag in NUMBER_TAGS:
            return str(node.value)
        value = self.scalar(entry)
        if value is None and isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return None
        if isinstance(value, str):
            try:
                if math.isfinite(float(value.strip())):
                    return value.strip()
            except ValueError:
                pass
        self.fail(entry, f"{value!r} is not a finite number")
        return None

    def moment(self, entry: _Entry) -> datetime | None:
        value = self.scalar(entry)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                self.fail(entry, f"'{value}' is not an ISO 8601 date-time")
                return None
        if isinstance(value, date) and not isinstance(value, datetime):
            self.fail(entry, f"{value} has no time: give the instant with a time zone, e.g. {value}T00:00:00Z")
            return None
        if not isinstance(value, datetime):
            if value is not None:
                self.fail(entry, f"{value!r} is not an ISO 8601 date-time")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail(entry, "give a time zone (e.g. 'Z' or '+01:00'); GMP records store UTC")
            return None
        return value

    def fields_of(self, entry: _Entry, allowed: set[str], what: str) -> dict[str, _Entry] | None:
        if not isinstance(entry.node, yaml.MappingNode):
            self.fail(entry, f"each {what} must be a mapping of fields")
            return None
        fields = entry.items()
        for name in sorted(set(fields) - allowed):
            self.fail(fields[name], f"'{name}' is not a field of a {what} (fields: {', '.join(sorted(allowed))})")
        return fields

    def list_of(self, root: dict[str, _Entry], name: str) -> list[_Entry]:
        entry = root.get(name)
        if entry is None:
            return []
        if not isinstance(entry.node, yaml.SequenceNode):
            self.fail(entry, f"'{name}' must be a list")
            return []
        return entry.elements()

    # ---- entries ------------------------------------------------------------------------------------------------
    def product(self, entry: _Entry) -> None:
        fields = self.fields_of(entry, PRODUCT_FIELDS, "product")
        if fields is None:
            return
        before = len(self.errors)
        code = self.text(fields, "code", entry, max_length=100)
        name = self.text(fields, "name", entry)
        kind = self.text(fields, "kind", entry)
        if kind is not None and kind not in tuple(ProductKind):
            self.fail(fields["kind"], f"'{kind}' is not one of {', '.join(ProductKind)}")
        cell_tissue_based = self.flag(fields, "cell_tissue_based", entry)
        atmp_class = self.text(fields, "atmp_class", entry, required=False, max_length=100) or "CTGTP"
        if code is not None and code in self.known_products:
            where = "is already in this file" if any(p.code == code for p in self.products) else "already exists"
            self.fail(fields["code"], f"product '{code}' {where}")
        if len(self.errors) == before and code and name and kind and cell_tissue_based is not None:
            self.products.append(Product(code, name, ProductKind(kind), cell_tissue_based, atmp_class))
            self.known_products.add(code)
        elif code is not None:
            self.refused_products.add(code)

    def limit(self, entry: _Entry) -> AttributeLimit | None:
        fields = self.fields_of(entry, LIMIT_FIELDS, "limit")
        if fields is None:
            return None
        before = len(self.errors)
        attribute = self.text(fields, "attribute", entry, max_length=200)
        unit = self.text(fields, "unit", entry, required=False, max_length=50)
        if unit is not None and unit not in RECOGNISED_UNITS:
            self.fail(fields["unit"], f"unit '{unit}' is not known (units are matched exactly and never converted; "
                                      f"known: {', '.join(sorted(RECOGNISED_UNITS))})")
        lower, upper = self.number_text(fields.get("lower")), self.number_text(fields.get("upper"))
        accepted = self.accepted_results(fields.get("accepted_results"))
        inclusive = {name: self.flag(fields, name, entry, default=True) for name in ("lower_inclusive",
                                                                                    "upper_inclusive")}
        if len(self.errors) > before or attribute is None:
            return None
        try:
            return catalog.limit_from_json({"attribute": attribute, "unit": unit, "lower": lower, "upper": upper,
                                            "accepted_results": accepted, **inclusive})
        except (SpecificationError, InvalidData) as exc:
            bound = fields.get("lower") if "lower limit" in str(exc) else None
            self.fail(bound or entry, getattr(exc, "detail", str(exc)))
            return None

    def accepted_results(self, entry: _Entry | None) -> list[str] | None:
        if entry is None:
            return None
        if not isinstance(entry.node, yaml.SequenceNode):
            self.fail(entry, "must be a list of result texts, e.g. [no growth]")
            return None
        texts = [self.scalar(item) for item in entry.elements()]
        if not texts or not all(isinstance(text, str) and text.strip() for text in texts):
            self.fail(entry, "must be a non-empty list of result texts, e.g. [no growth]")
            return None
        return [text.strip() for text in texts]

    def specification(self, entry: _Entry) -> None:
        fields = self.fields_of(entry, SPECIFICATION_FIELDS, "specification")
        if fields is None:
            return
        before = len(self.errors)
        code = self.text(fields, "product_code", entry, max_length=100)
        if code is not None and code in self.refused_products:
            self.fail(fields["product_code"], f"product '{code}' is refused above; correct it first")
        elif code is not None and code not in self.known_products:
            self.fail(fields["product_code"], f"product '{code}' does not exist; add it under 'products'")
        version = self.version(fields, entry, code)
        effective_from = self.moment(fields["effective_from"]) if "effective_from" in fields else None
        if "effective_from" not in fields:
            self.fail(entry, "is required (ISO 8601 with a time zone)", f"{entry.path}/effective_from")
        limits = [self.limit(item) for item in self.list_of(fields, "limits")]
        if "limits" not in fields or not limits:
            self.fail(fields.get("limits", entry), "a specification needs at least one limit",
                      f"{entry.path}/limits")
        if len(self.errors) > before or code is None or version is None or effective_from is None:
            return
        self.same_instant(fields["effective_from"], code, version, effective_from)
        try:
            self.specifications.append(Specification(code, version, effective_from,
                                                     tuple(x for x in limits if x is not None)))
        except SpecificationError as exc:
            self.fail(fields["limits"], str(exc))

    def version(self, fields: dict[str, _Entry], parent: _Entry, code: str | None) -> int | None:
        entry = fields.get("version")
        if entry is None:
            self.fail(parent, "is required (1, 2, ...)", f"{parent.path}/version")
            return None
        value = self.scalar(entry)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
            self.fail(entry, f"must be a whole number from 1, got {value!r}")
            return None
        if code is not None and (code, value) in self.stored_versions:
            self.fail(entry, f"specification {code} v{value} already exists; versions are never changed: "
                             "add the next version")
        elif code is not None and (code, value) in self.seen_versions:
            self.fail(entry, f"specification {code} v{value} is already on line {self.seen_versions[(code, value)]}")
        elif code is not None:
            self.seen_versions[(code, value)] = entry.line
        return value

    def same_instant(self, entry: _Entry, code: str, version: int, effective_from: datetime) -> None:
        """OOS-01: one version in force at a time, so two versions never take effect at the same instant."""
        stored = [f"v{v} (stored)" for (c, v), at in self.stored_versions.items() if c == code and at == effective_from]
        seen = self.seen_instants.setdefault((code, effective_from), (version, entry.line))
        others = stored + ([f"v{seen[0]} (line {seen[1]})"] if seen[0] != version else [])
        if others:
            self.fail(entry, f"OOS-01: {others[0]} of {code} already takes effect at {effective_from.isoformat()}; "
                             f"give v{version} its own effective_from")


def check(session: Session, text: str, is_json: bool) -> _CatalogChecker:
    """Every entry checked against the file and the database; the checker holds what is valid and every problem."""
    checker = _CatalogChecker(session)
    node = compose(text, is_json)
    root = _Entry(node, "") if node is not None else None
    if root is None or not isinstance(root.node, yaml.MappingNode):
        raise ImportRefused([RowError(root.line if root else 1, "(file)",
                                      "a catalogue file is a mapping with 'products' and/or 'specifications'")], 0)
    fields = checker.fields_of(root, {"products", "specifications"}, "catalogue file") or {}
    for entry in checker.list_of(fields, "products"):
        checker.product(entry)
    for entry in checker.list_of(fields, "specifications"):
        checker.specification(entry)
    return checker


def import_catalog(session: Session, clock: Clock, actor: Actor, content: bytes, *, is_json: bool,
                   source: str = "upload") -> CatalogImportSummary:
    """Validate and store one file in the caller's transaction; :class:`ImportRefused` (nothing written) if bad."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused([RowError(1, "(file)", f"not UTF-8 text ({exc.reason})")], 0) from None
    checker = check(session, text, is_json)
    entries = len(checker.products) + len(checker.specifications)
    if checker.errors:
        errors = sorted(checker.errors, key=lambda e: (e.line, e.field))
        raise ImportRefused(errors[:MAX_REPORTED_ERRORS], entries)
    if not entries:
        raise ImportRefused([RowError(1, "(file)", "no products or specifications found")], 0)
    for product in checker.products:
        catalog.add_product(session, clock, product, actor)
    session.flush()
    for spec in checker.specifications:
        catalog.add_specification(session, clock, spec, actor)
    session.flush()
    summary = CatalogImportSummary([p.code for p in checker.products],
                                   [f"{s.product_code} v{s.version}" for s in checker.specifications],
                                   hashlib.sha256(content).hexdigest())
    audit.append(session, clock.now(), actor, AuditEvent("catalogue.imported", data_after={
        "source": source, "products": summary.products, "specifications": summary.specifications,
        "sha256": summary.sha256, "requirement": "OOS-01"}))
    return summary


def is_json_file(name: str, content: bytes) -> bool:
    """JSON by its suffix, else by its first character ('{'); YAML otherwise."""
    return name.lower().endswith(".json") or content.lstrip()[:1] == b"{"

