"""Browser pages over the same services and the same route policies as the JSON API (issue 11).

Server-rendered Jinja2 with small scripts; bpmn-js and axe-core are vendored under
``static/vendor`` (built offline from ``web/``, never loaded from a CDN). Every page is declared
with :func:`api.declarations.page`, so ``api.access`` enforces the same roles and organisation
scope as the JSON API: a page never shows what the API would refuse.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from api.web import case_pages, designer, inbox, pages, product_pages, review_pages

    pages.install(app)
    for module in (inbox, case_pages, designer, review_pages, product_pages):
        app.register_blueprint(module.bp)
