"""Every page a user reaches, checked by axe-core in the browser: no violation of serious or critical impact
(issue 11 item 8) — including the login page, the lists, a product page and a refusal page.

# REQ: OOS-25 (a refusal page explains itself)
"""

from __future__ import annotations

from engine.domain import catalogue
from tests.browser.conftest import Site, assert_accessible, login, login_as


def test_lists_product_pages_login_and_refusals_are_accessible(site: Site, page) -> None:
    case_id = site.open_case()
    page.goto(f"{site.url}/ui/login")
    assert_accessible(page)
    login_as(page, site, "qa", case_id)
    for path in ("/ui/cases", "/ui/products", f"/ui/products/{catalogue.CART19_AUTH}", "/ui/designer",
                 f"/ui/tasks/{site.work_until(case_id, 'investigate_oos').id}"):
        page.goto(f"{site.url}{path}")
        assert page.locator("h1").count() == 1, path
        assert_accessible(page)

    page.context.clear_cookies()
    login(page, site, "dr.lucas.moreau")
    answered = page.goto(f"{site.url}/ui/designer")
    assert answered.status == 403
    assert "OOS-25" in page.get_by_role("alert").inner_text()
    assert_accessible(page)
