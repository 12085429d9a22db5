"""`oospath demo --serve`: after the scripted case, the browser pages over the demo's database.

A second case is opened and left at its first task, so the inbox has work; the demo's people log
in with the demo password (demo data only, never production).
"""

from __future__ import annotations

from rich.console import Console

from engine.bootstrap import Oospath
from engine.services import cases
from engine.services.identity import Actor
from oospath.demo_people import DEMO_PASSWORD
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS


def open_waiting_case(app: Oospath, scenario: str, settle: object) -> str:
    """A fresh case of the scenario's batch kind, left for the user at its first task."""
    opener = Actor(PERSONAS["qa"].user, frozenset({"qa"}))
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, SCENARIOS[scenario], EXCEPTIONAL_USE_REASON, opener)
        uow.commit()
        reference, case_id = case.reference, case.id
    if callable(settle):
        settle()
    return f"{reference} {case_id}"


def serve_demo(console: Console, app: Oospath, closed_case_id: str, scenario: str, host: str, port: int) -> None:
    """Print the case page's URL and the demo logins, then serve the pages and the API until stopped."""
    from api import create_app

    flask_app = create_app({"OOSPATH": app, "DEPLOY_PROCESSES": False, "AUTH": "token"})
    other = next(name for name in SCENARIOS if name != scenario and SCENARIOS[name] != SCENARIOS[scenario])
    waiting = open_waiting_case(app, other, flask_app.extensions["oospath.messaging"].pump)
    reference, waiting_id = waiting.split()
    base = f"http://{host}:{port}"
    console.print(f"\nCase page: [bold]{base}/ui/cases/{closed_case_id}[/]")
    console.print(f"Case {reference}, waiting for QA's investigation: {base}/ui/cases/{waiting_id}")
    console.print(f"Log in at {base}/ui/login as any of: "
                  + ", ".join(f"{p.user} ({p.role})" for p in PERSONAS.values())
                  + f" — password [bold]{DEMO_PASSWORD}[/] (demo data only). Ctrl-C stops the server.")
    flask_app.run(host=host, port=port, threaded=True)
