"""The demo's organisations and people: every legal entity of the demo catalogue, and the scripted
personas as users with passwords and roles at the organisations they work for (OOS-25), so the
demo's signatures are real re-authentications (OOS-24). Demo data only: never in production."""

from __future__ import annotations

from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.domain import catalogue
from engine.services import accounts
from engine.services.signatures import Credentials
from engine.store.identity_models import Organisation, User
from oospath.scenarios import PERSONAS

DEMO_PASSWORD = "demo-only-password"
#: Which party kinds each persona's role works for.
ROLE_PARTIES = {
    "qa": ("manufacturer",), "qp": ("manufacturer", "importer"), "physician": ("treating_site",),
    "mah_ra": ("mah",), "sponsor": ("sponsor",), "importer_qa": ("importer",), "management": ("mah",),
}
EXTRA_PEOPLE = {  # user -> (printed name, role, party kind)
    "marta.ruiz": ("Marta Ruiz", "management", "mah"),
    "ines.designer": ("Inès Laurent", "process_designer", "manufacturer"),
    "otto.auditor": ("Otto Brandt", "auditor", "manufacturer"),
}
PRINTED_NAMES = {"anna.keller": "Anna Keller", "dr.lucas.moreau": "Dr Lucas Moreau", "jan.devries": "Jan de Vries",
                 "sofia.lindqvist": "Sofia Lindqvist", "erik.holm": "Erik Holm", "pieter.janssen": "Pieter Janssen"}


def demo_parties() -> dict[str, str]:
    """Organisation name -> kind, from the demo catalogue's batches (first kind seen wins)."""
    parties: dict[str, str] = {}
    for batch in catalogue.sample_batches():
        for kind in ("manufacturer", "importer", "mah", "sponsor", "treating_site"):
            name = getattr(batch, kind)
            if name:
                parties.setdefault(name, kind)
    return parties


def _party_names(kind: str) -> set[str]:
    names = set()
    for batch in catalogue.sample_batches():
        if getattr(batch, kind):
            names.add(getattr(batch, kind))
    return names


def seed_people(app: Oospath) -> None:
    """Organisations and persona users; already present ones are left alone."""
    now = app.clock.now()
    with app.uow() as uow:
        session = uow.session
        known = set(session.scalars(select(Organisation.name)))
        for name, kind in demo_parties().items():
            if name not in known:
                accounts.add_organisation(session, now, name, kind)
        users = set(session.scalars(select(User.username)))
        people = {p.user: (PRINTED_NAMES.get(p.user, p.user), p.role, ROLE_PARTIES.get(p.role, ()))
                  for p in PERSONAS.values()}
        people.update({user: (name, role, (kind,)) for user, (name, role, kind) in EXTRA_PEOPLE.items()})
        for user, (printed, role, kinds) in people.items():
            if user in users:
                continue
            orgs = sorted({org for kind in kinds for org in _party_names(kind)})
            accounts.add_user(session, now, user, printed, DEMO_PASSWORD, [(org, role) for org in orgs])
        uow.commit()


def credentials_of(user: str) -> Credentials:
    """What a scripted persona re-enters to sign."""
    return Credentials(user, DEMO_PASSWORD)
