"""`python -m bench scale [--cases N] [--clients C] [--database-url URL]`: many processes on one PostgreSQL.

For 1 and then 2 processes of each kind: ``oospath serve --workers P`` (gunicorn) and P ``oospath
scheduler`` processes over one PostgreSQL database (``OOSPATH_TEST_DATABASE_URL`` unless
``--database-url``; its schema is replaced for each run), embedded messaging in every process. C
concurrent clients (default 8) drive N cases (default 500) over HTTP with bearer tokens, each from its
opening to the Supervisory Authority notification (7 steps, 6 of them signed); then the shared clock moves
49 hours so both deadline timers of every case come due, and the schedulers fire them.

Figures: ``inst_s_1``/``inst_s_2`` cases (process instances) driven per second, ``timers_s_1``/``_2`` timers
fired per second, ``errors`` responses other than 2xx plus failed cases over both runs,
``timers_fired_twice`` timers with more than one ``timer.fired`` audit row, ``timers_not_fired`` and
``outbox_unpublished`` left at the end. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.fleet import (
    TIMERS_PER_CASE,
    Fleet,
    HttpError,
    Personas,
    armed_timers,
    fresh_schema,
    prepare_installation,
    wait_for_timers,
)
from engine.clock import FileClock

DEADLINES_PASSED = timedelta(hours=49)  # the SA notification is due 48 h after supply; escalation before


def _drive(personas: Personas, url: str, batch_ids: list[str], clients: int, clock: FileClock) -> list[str]:
    """Every batch's case driven by ``clients`` threads; returns the failures (empty when every case got there)."""
    work: queue.Queue[str] = queue.Queue()
    for batch_id in batch_ids:
        work.put(batch_id)
    failures: list[str] = []

    def client() -> None:
        while True:
            try:
                batch_id = work.get_nowait()
            except queue.Empty:
                return
            try:
                personas.drive_case([url], batch_id, clock.now)
            except (HttpError, LookupError, OSError) as failed:
                failures.append(f"{batch_id}: {failed}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def run_once(database_url: str, processes: int, cases: int, clients: int) -> dict[str, Any]:
    fresh_schema(database_url)
    var_dir = Path(tempfile.mkdtemp(prefix=f"oospath-scale-{processes}-"))
    clock = FileClock(var_dir / "clock")
    clock.set(datetime.now(UTC).replace(microsecond=0))
    app, batch_ids = prepare_installation(database_url, var_dir, clock, cases)
    fleet = Fleet(database_url, var_dir, clock)
    try:
        url = fleet.serve(workers=processes)
        for _ in range(processes):
            fleet.scheduler()
        personas = Personas.log_in(url)
        started = time.perf_counter()
        failures = _drive(personas, url, batch_ids, clients, clock)
        seconds = time.perf_counter() - started
        armed = armed_timers(app)
        clock.advance(DEADLINES_PASSED)
        firing = wait_for_timers(app, armed)
        fleet.check_alive()
    finally:
        fleet.stop()
        app.db.dispose()
    server_errors = sum(1 for status in personas.statuses if status >= 500)
    refused = sum(1 for status in personas.statuses if 400 <= status < 500)
    print(f"{processes} API process(es) + {processes} scheduler(s): {cases} cases by {clients} clients in "
          f"{seconds:.1f} s = {cases / seconds:.2f} inst/s ({len(personas.statuses)} requests, {server_errors} 5xx, "
          f"{refused} 4xx, {len(failures)} failed case(s)); {firing.timers_fired} of {armed} timers fired in "
          f"{firing.seconds:.1f} s, {firing.timers_fired_twice} twice, {firing.outbox_unpublished} outbox "
          f"message(s) unpublished")
    for failure in failures[:5]:
        print(f"  failed: {failure}")
    return {"inst_s": cases / seconds, "timers_s": firing.timers_fired / max(firing.seconds, 1e-9),
            "errors": server_errors + refused + len(failures), "timers_fired_twice": firing.timers_fired_twice,
            "timers_not_fired": firing.timers_waiting, "timers_armed": armed,
            "timers_expected": TIMERS_PER_CASE * cases, "outbox_unpublished": firing.outbox_unpublished}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=os.environ.get("OOSPATH_TEST_DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.database_url or not args.database_url.startswith("postgresql"):
        raise SystemExit("bench scale runs on PostgreSQL: set OOSPATH_TEST_DATABASE_URL or --database-url")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the fleet on the way out (finally)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs = {processes: run_once(args.database_url, processes, args.cases, args.clients) for processes in (1, 2)}
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    figures = {"inst_s_1": round(runs[1]["inst_s"], 2), "inst_s_2": round(runs[2]["inst_s"], 2),
               "speedup": round(runs[2]["inst_s"] / runs[1]["inst_s"], 2),
               "timers_s_1": round(runs[1]["timers_s"], 1), "timers_s_2": round(runs[2]["timers_s"], 1),
               "errors": runs[1]["errors"] + runs[2]["errors"],
               "timers_fired_twice": runs[1]["timers_fired_twice"] + runs[2]["timers_fired_twice"],
               "timers_not_fired": runs[1]["timers_not_fired"] + runs[2]["timers_not_fired"],
               "timers_armed": runs[1]["timers_armed"] + runs[2]["timers_armed"],
               "timers_expected": runs[1]["timers_expected"] + runs[2]["timers_expected"],
               "outbox_unpublished": runs[1]["outbox_unpublished"] + runs[2]["outbox_unpublished"],
               "cases": args.cases, "clients": args.clients}
    print(json.dumps(figures))
