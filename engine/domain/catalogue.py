"""Seed and demo data: autologous CAR-T release testing (OOS-01, OOS-02).

Why this exists: demos, end-to-end tests and the BPMN walkthrough need batches
whose OOS outcome is known in advance, with limits a QA reviewer recognises.
All products, companies and hospitals are fictional; limits are realistic for
autologous anti-CD19 / anti-BCMA CAR-T final product release, not copied from
any dossier.

Realism notes: final-product viability ≥ 80 % is the classic CAR-T release
limit, and a viability result in the 70s is the textbook OOS that leads to
exceptional use. Sterility is reported as "no growth" and mycoplasma /
replication-competent lentivirus (RCL) as "not detected". Doses are in units of
10^8 CAR-positive viable T cells. Version 2 of the authorised specification
tightens the vector copy number limit from < 5 to ≤ 4.0 copies per transduced cell.

Every function returns new immutable objects; nothing here does I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.domain.specification_limits import AttributeLimit
from engine.domain.specifications import BatchRecord, Product, ProductKind, Specification, TestResult

# Product codes.
CART19_AUTH = "CART19-AUTH"
CART_BCMA_IMP = "CART-BCMA-IMP"
AAV_GENE_THERAPY = "AAV-RPE65-GT"

# Attribute identifiers shared by specifications, results, forms and reports.
VIABILITY = "viability"
CAR_T_DOSE = "car_t_dose"
TRANSDUCTION_EFFICIENCY = "transduction_efficiency"
VECTOR_COPY_NUMBER = "vector_copy_number"
IFN_GAMMA_RELEASE = "ifn_gamma_release"
ENDOTOXIN = "endotoxin"
STERILITY = "sterility"
MYCOPLASMA = "mycoplasma"
RCL = "replication_competent_lentivirus"
VECTOR_GENOME_TITRE = "vector_genome_titre"
FULL_CAPSIDS = "full_capsids"

# Units (matched exactly by detect_oos).
PERCENT = "%"
DOSE_UNIT = "x10^8 cells"
VCN_UNIT = "copies/transduced cell"
PG_PER_ML = "pg/mL"
EU_PER_ML = "EU/mL"
VG_PER_ML = "x10^13 vg/mL"

# Parties (fictional legal entities).
HELIX = "Helix Cell Manufacturing GmbH"
NORDLICHT = "Nordlicht Therapeutics B.V."
CASCADIA = "Cascadia Cell Therapy Manufacturing Inc."
LOWLANDS_IMPORT = "Lowlands Pharma Import B.V."
AURORA_SPONSOR = "Aurora Oncology Research AB"
VECTORIS = "Vectoris Gene Therapies S.A."

# Sample batch identifiers, named after the outcome each one demonstrates.
BATCH_IN_SPEC = "CART19-25-0101"
BATCH_VIABILITY_OOS = "CART19-25-0102"
BATCH_BOUNDARY_IN_SPEC = "CART19-25-0103"
BATCH_STERILITY_FAILURE = "CART19-25-0104"
BATCH_V1_ERA_IN_SPEC = "CART19-25-0042"
BATCH_IMP_TRANSDUCTION_OOS = "BCMA-IMP-25-0007"
BATCH_NON_CELL_OOS = "AAV-25-0003"

# Effective dates of the specification versions.
CART19_V1_EFFECTIVE = datetime(2024, 1, 15, tzinfo=UTC)
CART19_V2_EFFECTIVE = datetime(2025, 7, 1, tzinfo=UTC)
BCMA_V1_EFFECTIVE = datetime(2025, 3, 1, tzinfo=UTC)
AAV_V1_EFFECTIVE = datetime(2024, 6, 1, tzinfo=UTC)


def products() -> tuple[Product, ...]:
    """Two cell-based CAR-T products (authorised, investigational) and one non-cell product."""
    return (
        Product(
            code=CART19_AUTH,
            name="tisagenlecleucel-like autologous anti-CD19 CAR-T (demo)",
            kind=ProductKind.AUTHORISED,
            cell_tissue_based=True,
            atmp_class="GTMP (genetically modified autologous T cells)",
        ),
        Product(
            code=CART_BCMA_IMP,
            name="autologous anti-BCMA CAR-T, investigational (demo)",
            kind=ProductKind.INVESTIGATIONAL,
            cell_tissue_based=True,
            atmp_class="GTMP (genetically modified autologous T cells)",
        ),
        Product(
            code=AAV_GENE_THERAPY,
            name="AAV2 RPE65 gene therapy vector (demo)",
            kind=ProductKind.AUTHORISED,
            cell_tissue_based=False,
            atmp_class="GTMP (in vivo AAV vector, no cells)",
        ),
    )


def product(code: str) -> Product:
    """One product by code; KeyError if the catalogue has none."""
    for item in products():
        if item.code == code:
            return item
    raise KeyError(code)


def _safety_limits() -> tuple[AttributeLimit, ...]:
    """Microbial and viral safety limits common to both CAR-T products."""
    return (
        AttributeLimit(ENDOTOXIN, EU_PER_ML, upper=5.0, upper_inclusive=False),
        AttributeLimit(STERILITY, accepted_results=("no growth",)),
        AttributeLimit(MYCOPLASMA, accepted_results=("not detected",)),
        AttributeLimit(RCL, accepted_results=("not detected",)),
    )


def _cart19_limits(vcn: AttributeLimit) -> tuple[AttributeLimit, ...]:
    """Authorised anti-CD19 limits; only the vector copy number differs between versions."""
    return (
        AttributeLimit(VIABILITY, PERCENT, lower=80),
        AttributeLimit(CAR_T_DOSE, DOSE_UNIT, lower=0.6, upper=6.0),
        AttributeLimit(TRANSDUCTION_EFFICIENCY, PERCENT, lower=15),
        vcn,
        AttributeLimit(IFN_GAMMA_RELEASE, PG_PER_ML, lower=500),
        *_safety_limits(),
    )


def _bcma_limits() -> tuple[AttributeLimit, ...]:
    """Investigational anti-BCMA limits: wider viability, stricter transduction (early phase)."""
    return (
        AttributeLimit(VIABILITY, PERCENT, lower=70),
        AttributeLimit(CAR_T_DOSE, DOSE_UNIT, lower=1.5, upper=4.5),
        AttributeLimit(TRANSDUCTION_EFFICIENCY, PERCENT, lower=20),
        AttributeLimit(VECTOR_COPY_NUMBER, VCN_UNIT, upper=5.0, upper_inclusive=False),
        *_safety_limits(),
    )


def _aav_limits() -> tuple[AttributeLimit, ...]:
    """Limits of the non-cell product, used only to show that OOS-02 refuses it."""
    return (
        AttributeLimit(VECTOR_GENOME_TITRE, VG_PER_ML, lower=1.0, upper=5.0),
        AttributeLimit(FULL_CAPSIDS, PERCENT, lower=70),
        AttributeLimit(ENDOTOXIN, EU_PER_ML, upper=0.5, upper_inclusive=False),
        AttributeLimit(STERILITY, accepted_results=("no growth",)),
    )


def specifications() -> tuple[Specification, ...]:
    """All specification versions: CAR-T CD19 v1 and v2, CAR-T BCMA v1, AAV v1."""
    return (
        Specification(
            CART19_AUTH,
            1,
            CART19_V1_EFFECTIVE,
            _cart19_limits(AttributeLimit(VECTOR_COPY_NUMBER, VCN_UNIT, upper=5.0, upper_inclusive=False)),
        ),
        Specification(
            CART19_AUTH,
            2,
            CART19_V2_EFFECTIVE,
            _cart19_limits(AttributeLimit(VECTOR_COPY_NUMBER, VCN_UNIT, upper=4.0)),
        ),
        Specification(CART_BCMA_IMP, 1, BCMA_V1_EFFECTIVE, _bcma_limits()),
        Specification(AAV_GENE_THERAPY, 1, AAV_V1_EFFECTIVE, _aav_limits()),
    )


def specifications_for(product_code: str) -> tuple[Specification, ...]:
    """All versions of one product's specification, oldest first."""
    return tuple(s for s in specifications() if s.product_code == product_code)


def _cart_results(
    *,
    viability: float,
    dose: float,
    transduction: float,
    vcn: float,
    ifn_gamma: float | None = 1850.0,
    endotoxin: float = 0.5,
    sterility: str = "no growth",
    mycoplasma: str = "not detected",
    rcl: str = "not detected",
) -> tuple[TestResult, ...]:
    """A full CAR-T release panel; ``ifn_gamma=None`` omits the potency result (BCMA has none)."""
    numeric = [
        TestResult(VIABILITY, viability, unit=PERCENT),
        TestResult(CAR_T_DOSE, dose, unit=DOSE_UNIT),
        TestResult(TRANSDUCTION_EFFICIENCY, transduction, unit=PERCENT),
        TestResult(VECTOR_COPY_NUMBER, vcn, unit=VCN_UNIT),
    ]
    if ifn_gamma is not None:
        numeric.append(TestResult(IFN_GAMMA_RELEASE, ifn_gamma, unit=PG_PER_ML))
    return (
        *numeric,
        TestResult(ENDOTOXIN, endotoxin, unit=EU_PER_ML),
        TestResult(STERILITY, text=sterility),
        TestResult(MYCOPLASMA, text=mycoplasma),
        TestResult(RCL, text=rcl),
    )


def _cd19_batch(
    batch_id: str,
    manufactured_at: datetime,
    results: tuple[TestResult, ...],
    *,
    manufacturer: str = HELIX,
    importer: str | None = None,
    treating_site: str = "Universitätsklinikum Rheinland (demo), Köln",
    treating_country: str = "DE",
) -> BatchRecord:
    """An authorised anti-CD19 batch with Nordlicht as MAH; imported exactly when an importer is named."""
    return BatchRecord(
        batch_id=batch_id,
        product_code=CART19_AUTH,
        manufactured_at=manufactured_at,
        imported=importer is not None,
        manufacturer=manufacturer,
        importer=importer,
        mah=NORDLICHT,
        treating_site=treating_site,
        treating_country=treating_country,
        results=results,
    )


def _batch_in_spec() -> BatchRecord:
    """Within specification (v2): never enters the pathway. Text results vary in case and spacing."""
    return _cd19_batch(
        BATCH_IN_SPEC,
        datetime(2025, 9, 10, 8, 30, tzinfo=UTC),
        _cart_results(
            viability=91.2,
            dose=2.4,
            transduction=28.5,
            vcn=1.8,
            sterility="No Growth",
            mycoplasma="  Not   detected ",
        ),
    )


def _batch_viability_oos() -> BatchRecord:
    """OOS on viability only (74.0 % vs ≥ 80 %); imported from the US, three legal entities."""
    return _cd19_batch(
        BATCH_VIABILITY_OOS,
        datetime(2025, 11, 3, 14, 0, tzinfo=UTC),
        _cart_results(viability=74.0, dose=1.9, transduction=24.0, vcn=2.1),
        manufacturer=CASCADIA,
        importer=LOWLANDS_IMPORT,
        treating_site="Hôpital Saint-Aubin (demo), Lyon",
        treating_country="FR",
    )


def _batch_boundary_in_spec() -> BatchRecord:
    """Within specification (v2) with values exactly on inclusive limits.

    Viability 80.0 (≥ 80), dose 0.6 (0.6 to 6.0), vector copy number 4.0 (≤ 4.0).
    Manufacturer and MAH are the same legal entity, so no written agreement is needed.
    """
    return _cd19_batch(
        BATCH_BOUNDARY_IN_SPEC,
        datetime(2025, 10, 21, 9, 15, tzinfo=UTC),
        _cart_results(viability=80.0, dose=0.6, transduction=15.0, vcn=4.0, ifn_gamma=500.0),
        manufacturer=NORDLICHT,
        treating_site="Amstel University Medical Centre (demo), Amsterdam",
        treating_country="NL",
    )


def _batch_sterility_failure() -> BatchRecord:
    """OOS on sterility only: growth detected in the final product."""
    return _cd19_batch(
        BATCH_STERILITY_FAILURE,
        datetime(2025, 12, 1, 7, 45, tzinfo=UTC),
        _cart_results(
            viability=88.0,
            dose=3.1,
            transduction=31.0,
            vcn=2.6,
            sterility="growth detected (Staphylococcus epidermidis)",
        ),
        treating_site="Ospedale San Lorenzo (demo), Milano",
        treating_country="IT",
    )


def _batch_v1_era_in_spec() -> BatchRecord:
    """Within v1 (vector copy number 4.5 < 5), made before v2 took effect; v2 would fail it."""
    return _cd19_batch(
        BATCH_V1_ERA_IN_SPEC,
        datetime(2025, 5, 20, 11, 0, tzinfo=UTC),
        _cart_results(viability=86.0, dose=2.0, transduction=33.0, vcn=4.5),
    )


def _batch_imp_transduction_oos() -> BatchRecord:
    """Investigational OOS on transduction efficiency (14.0 % vs ≥ 20 %); sponsor, no MAH."""
    return BatchRecord(
        batch_id=BATCH_IMP_TRANSDUCTION_OOS,
        product_code=CART_BCMA_IMP,
        manufactured_at=datetime(2025, 10, 7, 10, 0, tzinfo=UTC),
        imported=False,
        manufacturer=HELIX,
        importer=None,
        mah=None,
        sponsor=AURORA_SPONSOR,
        treating_site="Nordic University Hospital (demo), Uppsala",
        treating_country="SE",
        results=_cart_results(viability=82.0, dose=2.2, transduction=14.0, vcn=1.1, ifn_gamma=None),
    )


def _batch_non_cell_oos() -> BatchRecord:
    """OOS batch of the AAV vector (full capsids 62 % vs ≥ 70 %): refused by OOS-02."""
    return BatchRecord(
        batch_id=BATCH_NON_CELL_OOS,
        product_code=AAV_GENE_THERAPY,
        manufactured_at=datetime(2025, 8, 12, 12, 0, tzinfo=UTC),
        imported=False,
        manufacturer=VECTORIS,
        importer=None,
        mah=VECTORIS,
        treating_site="Hospital Universitario del Sol (demo), Madrid",
        treating_country="ES",
        results=(
            TestResult(VECTOR_GENOME_TITRE, 2.3, unit=VG_PER_ML),
            TestResult(FULL_CAPSIDS, 62.0, unit=PERCENT),
            TestResult(ENDOTOXIN, 0.1, unit=EU_PER_ML),
            TestResult(STERILITY, text="no growth"),
        ),
    )


def sample_batches() -> tuple[BatchRecord, ...]:
    """Demo batches, one per outcome; each builder's docstring states the expected detection."""
    return (
        _batch_in_spec(),
        _batch_viability_oos(),
        _batch_boundary_in_spec(),
        _batch_sterility_failure(),
        _batch_v1_era_in_spec(),
        _batch_imp_transduction_oos(),
        _batch_non_cell_oos(),
    )


def sample_batch(batch_id: str) -> BatchRecord:
    """One demo batch by id; KeyError if there is none."""
    for batch in sample_batches():
        if batch.batch_id == batch_id:
            return batch
    raise KeyError(batch_id)
