"""Each request's log lines carry its request id and the case, task or instance named in its path.

The request id is the caller's ``X-Request-ID`` when it is a short token (a proxy's id, so lines
can be joined across services), otherwise a new one; it is returned in ``X-Request-ID``.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from engine.logging_setup import enter_log_context, leave_log_context

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
PATH_IDS = ("case_id", "task_id", "instance_id")


def install(app: Flask) -> None:
    app.before_request(_enter)
    app.after_request(_answer_with_id)
    app.teardown_request(_leave)


def _enter() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _ACCEPTED_ID.match(given) else uuid.uuid4().hex
    path = request.view_args or {}
    g.log_context_token = enter_log_context(request_id=g.request_id, **{k: path.get(k) for k in PATH_IDS})


def _answer_with_id(response: Response) -> Response:
    if g.get("request_id"):
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def _leave(_error: BaseException | None) -> None:
    token = g.pop("log_context_token", None)
    if token is not None:
        leave_log_context(token)
