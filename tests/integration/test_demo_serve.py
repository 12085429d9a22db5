"""`oospath demo --serve` prints the case page's URL and serves it (issue 11): a new user's first look.

# REQ: OOS-25 (the page needs a login)
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serve_prints_the_case_page_url_and_serves_it(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "OOSPATH_EMBEDDED_MESSAGING": "true", "OOSPATH_AMQP_URL": ""}
    process = subprocess.Popen([sys.executable, "-m", "oospath.cli", "demo", "--serve", "--port", str(port),
                                "--var-dir", str(tmp_path / "var")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        url, seen = None, []
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if not line and process.poll() is not None:
                break
            seen.append(line)
            if found := re.search(rf"Case page: (http://127\.0\.0\.1:{port}/ui/cases/[0-9a-f-]{{36}})", line):
                url = found.group(1)
        assert url, "".join(seen)[-3000:]
        for _ in range(100):
            try:
                with urllib.request.urlopen(url.replace("/ui/cases/", "/ui/login?next=/ui/cases/")) as page:
                    assert page.status == 200 and "Log in" in page.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the demo server did not answer")
        request = urllib.request.Request(url)
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(request)
            raise AssertionError("the case page answered without a login")
        except urllib.error.HTTPError as redirected:
            assert redirected.code == 302 and "/ui/login?next=/ui/cases/" in redirected.headers["Location"]
    finally:
        process.terminate()
        process.wait(timeout=20)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
