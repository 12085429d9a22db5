"""Browser tests: Playwright for Python driving Debian's headless Chromium against a live oospath server.

Each test gets its own server (a thread running the Flask app over a fresh SQLite database with a
frozen clock the test moves), the demo catalogue, people and agreement, and a fresh browser
context. Chromium comes from Debian's packages (``apt-get install -y chromium``; ``.ci/run`` installs
it); ``OOSPATH_CHROMIUM`` names another binary. A missing browser fails the run, never skips it.
Set ``OOSPATH_SCREENSHOTS=1`` to refresh the screenshots in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from api import create_app
from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.services import cases, tasks
from engine.services.identity import Actor
from engine.services.scheduling import fire_due
from engine.settings import Settings
from oospath.demo import put_agreement_in_force, scripted_step, seed_catalogue
from oospath.demo_people import DEMO_PASSWORD, ROLE_PARTIES
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
BLOCKING_IMPACTS = ("serious", "critical")


def chromium_path() -> str:
    found = os.environ.get("OOSPATH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: `apt-get install -y chromium` (Debian), or set OOSPATH_CHROMIUM")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-extensions", "--no-first-run"])
        yield launched
        launched.close()


@dataclass
class Site:
    """The live server and the handles a test needs to move the world: clock, messaging, scheduler."""

    url: str
    app: Oospath
    clock: FrozenClock
    flask_app: Any

    def pump(self) -> None:
        self.flask_app.extensions["oospath.messaging"].pump()

    def open_case(self, scenario: str = "authorised") -> str:
        opener = Actor(PERSONAS["qa"].user, frozenset({"qa"}))
        with self.app.uow() as uow:
            case = cases.open_case(uow.session, self.app.runtime, SCENARIOS[scenario], EXCEPTIONAL_USE_REASON,
                                   opener)
            uow.commit()
            case_id = case.id
        self.pump()
        return case_id

    def work_until(self, case_id: str, element_id: str, scenario: str = "authorised") -> Any:
        """The scripted personas complete the case's tasks until ``element_id`` is open; returns that task."""
        for _ in range(60):
            with self.app.uow() as uow:
                ready = tasks.list_tasks(uow.session, case_id=case_id)
            wanted = [t for t in ready if t.element_id == element_id]
            if wanted:
                return wanted[0]
            assert ready, f"the case finished before {element_id} was open"
            self.clock.advance(timedelta(hours=1))
            scripted_step(self.app, ready[0], scenario)
            self.pump()
            if fire_due(self.app):
                self.pump()
        raise AssertionError(f"{element_id} never opened")

    def advance(self, by: timedelta) -> None:
        """Move the clock and let the scheduler fire what came due (as its next pass would)."""
        self.clock.advance(by)
        if fire_due(self.app):
            self.pump()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    clock = FrozenClock()
    settings = Settings(var_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'oospath.db'}",
                        smtp_url=None, processes_dir=REPO / "processes")
    container = bootstrap(settings, clock)
    flask_app = create_app({"OOSPATH": container, "AUTH": "token"})
    seed_catalogue(container)
    put_agreement_in_force(container, flask_app.extensions["oospath.messaging"].pump)
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_port}", container, clock, flask_app)
    server.shutdown()
    container.db.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def login(page: Any, site: Site, user: str, organisation: str | None = None) -> None:
    """Log in through the login page as a user a QA head would see at work; picks the organisation when asked."""
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if page.locator("select#organisation").count():
        if organisation:
            page.select_option("select#organisation", label=organisation)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/ui/(inbox|cases|tasks|designer|reviews|products).*"))


def login_as(page: Any, site: Site, role: str, case_id: str | None = None) -> None:
    """Log in as the persona of ``role``, for the organisation that is party to ``case_id`` in that role."""
    organisation = None
    if case_id:
        with site.app.uow() as uow:
            parties = cases.get_case(uow.session, case_id).parties
        organisation = next(parties[kind] for kind in ROLE_PARTIES[role] if parties.get(kind))
    login(page, site, PERSONAS[role].user, organisation)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A/AA rules)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url="/ui/static/vendor/axe.min.js")  # same origin: allowed by the pages' CSP
    result = page.evaluate("""async () => {
        const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in BLOCKING_IMPACTS]


def assert_accessible(page: Any) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core violations on {page.url}: {violations}"


def screenshot(page: Any, name: str, height: int = 1600) -> None:
    """The top ``height`` pixels of the page, for the README."""
    if os.environ.get("OOSPATH_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True,
                        clip={"x": 0, "y": 0, "width": width, "height": height})
