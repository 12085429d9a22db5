"""The six-monthly periodic review in the browser: the MAH opens the review, reads the HTML report and
signs the approval (OOS-20, OOS-24) — every page free of serious or critical axe-core violations.

# REQ: OOS-20 OOS-24 OOS-25
"""

from __future__ import annotations

import re

from engine.services import batch_import, catalog
from oospath.demo import ADMIN
from oospath.demo_people import DEMO_PASSWORD
from oospath.review_demo import lims_export
from tests.browser.conftest import Site, assert_accessible, login, screenshot
from tests.e2e.test_review_and_product_pages import H1_2026, review_awaiting_approval


def test_mah_opens_the_periodic_report_and_signs_the_approval(site: Site, page) -> None:
    with site.app.uow() as uow:  # two years of the product's batches, as the LIMS exports them
        known = {b.batch_id for b in catalog.list_batches(uow.session)}
        lines = lims_export(H1_2026).decode().splitlines(keepends=True)
        export = "".join([lines[0], *(line for line in lines[1:] if line.split(",")[0] not in known)])
        batch_import.import_batches(uow.session, site.clock.now(), ADMIN, export.encode(), "csv")
        uow.commit()
    review_id = review_awaiting_approval(site.app, site.pump)
    login(page, site, "sofia.lindqvist")  # MAH regulatory affairs (the review concerns no case's parties)
    page.get_by_role("link", name="Periodic reviews").click()
    assert_accessible(page)
    page.locator(f'a[href="/ui/reviews/{review_id}"]').first.click()
    page.wait_for_url(re.compile(rf".*/ui/reviews/{review_id}$"))
    assert_accessible(page)
    assert int(page.locator("dt:text-is('Batches') + dd").inner_text()) > 100
    screenshot(page, "report", height=1300)

    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Open the report (HTML)").click()
    report = opened.value
    report.wait_for_load_state()
    assert "CART19-AUTH" in report.content()
    assert report.locator("img, svg").count() >= 1  # its control charts
    report.close()
    for fmt in ("pdf", "json", "csv"):
        link = page.locator(f'a[href$="/{fmt}"]').first
        answered = page.request.get(site.url + link.get_attribute("href"))
        assert answered.status == 200, fmt

    page.locator("#approval-link").click()
    page.wait_for_url(re.compile(r".*/ui/tasks/.*"))
    form = page.locator("#task-form")
    for field in form.locator(".kind-boolean").all():
        field.get_by_label("Yes").check()
    page.get_by_label("Signatory", exact=False).fill("Sofia Lindqvist, MAH regulatory affairs")
    page.get_by_role("button", name="Complete and sign…").click()
    dialog = page.get_by_role("dialog", name="Electronic signature")
    if dialog.get_by_label("User name").count():
        dialog.get_by_label("User name").fill("sofia.lindqvist")
    dialog.get_by_label("Password").fill(DEMO_PASSWORD)
    dialog.get_by_role("button", name="Sign and complete").click()
    page.goto(f"{site.url}/ui/reviews/{review_id}")
    assert "Sofia Lindqvist" in page.locator(".signature-manifest").first.inner_text()
