"""Fault injection: drive many OOS cases while worker and relay processes are SIGKILLed and the broker restarts.

Proves that nothing is lost or doubled: every notification task has exactly one delivery evidence
row, every evidence row's Message-ID reached the SMTP server, no message is dead-lettered, no incident
is open, and every case closes.

- an aiosmtpd SMTP server on 127.0.0.1 (free port) records every message it receives (raw bytes);
- the database is a PostgreSQL database of this run's own (``oospath_fault``, created if missing, its
  schema dropped and re-created; many processes write at once) or, when PostgreSQL is not reachable,
  a SQLite file in the temporary directory;
- a FileClock shared through OOSPATH_CLOCK_FILE, AMQP namespace ``oospath-fault`` (purged first);
- the relay and the workers (notifications x2, records, reporting, results x2, inbound) run as child
  processes (oospath.supervisor); the cases are driven interleaved from this process through the
  service layer with the scripted actors of oospath.scenarios;
- a killer thread SIGKILLs a random worker or relay process at random moments (restarting it at once)
  and, once mid-run, stops and restarts the RabbitMQ application (``rabbitmqctl stop_app/start_app``:
  local test broker only; everything oospath declares is durable).

Exit code 0 only if every check passed. Prints figures; never asserts timings.

The parts: :mod:`bench.fault_environment` (SMTP recorder, database, processes), :mod:`bench.fault_killer`
(the faults), :mod:`bench.fault_driving` (the cases) and :mod:`bench.fault_tally` (settling and the checks).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from bench.fault_driving import MIX, DrivenCase, Driving, drive
from bench.fault_environment import (
    DEFAULT_PG,
    NAMESPACE,
    PROCESSES,
    Fleet,
    SmtpRecorder,
    free_port,
    prepare_database,
    say,
)
from bench.fault_killer import Faults, Killer, rabbitmqctl
from bench.fault_tally import Tally, settle, tally, tally_faults
from engine.bootstrap import Oospath, bootstrap
from engine.clock import FileClock
from engine.settings import Settings
from oospath.demo import deploy_processes, put_agreement_in_force, seed_catalogue, wait_until_settled
from oospath.scenarios import SCENARIOS
from workers.transport.rabbitmq import RabbitMqTransport, amqp_url
from workers.transport.topology import Topology


@dataclass
class Run:
    """What one run started: the SMTP server, the database and application, the broker URL and the processes."""

    var: Path
    recorder: SmtpRecorder
    port: int
    controller: Controller
    database_url: str
    clock: FileClock
    app: Oospath
    url: str
    fleet: Fleet


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench fault_injection")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--window", type=int, default=20, help="cases open at the same time")
    parser.add_argument("--broker-down", type=float, default=4.0,
                        help="seconds between rabbitmqctl stop_app and start_app (0: no broker restart)")
    parser.add_argument("--database-url", default=None,
                        help=f"a database of this run's own, emptied first (default: {DEFAULT_PG}, "
                             "else SQLite in the temporary directory; 'sqlite': SQLite there anyway)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stall-timeout", type=float, default=300.0, help="give up driving after this long idle")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kept anyway on failure)")
    return parser.parse_args(argv)


def start(args: argparse.Namespace, var: Path, started: float) -> Run:
    """Start the SMTP recorder, prepare the database, deploy and seed, and declare and purge the namespace."""
    recorder = SmtpRecorder(var / "smtp", started)
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    database_url = prepare_database(args.database_url, var)
    clock = FileClock(var / "clock")
    clock.set(datetime.now(UTC).replace(microsecond=0))
    settings = Settings(var_dir=var, database_url=database_url, smtp_url=f"smtp://127.0.0.1:{port}")
    app = bootstrap(settings, clock)
    deploy_processes(app)
    seed_catalogue(app)
    url = amqp_url()
    setup = RabbitMqTransport(url, topology=Topology(NAMESPACE))
    setup.declare()
    setup.purge()
    setup.close()

    env = {"OOSPATH_SMTP_URL": settings.smtp_url or "", "OOSPATH_DATABASE_URL": database_url,
           "OOSPATH_VAR_DIR": str(var), "OOSPATH_CLOCK_FILE": str(clock.path), "OOSPATH_AMQP_NAMESPACE": NAMESPACE,
           "OOSPATH_AMQP_URL": url, "OOSPATH_RETRY_DELAY_MS": os.environ.get("OOSPATH_RETRY_DELAY_MS", "200")}
    return Run(var, recorder, port, controller, database_url, clock, app, url, Fleet(env, var / "logs"))


def main(argv: list[str]) -> None:
    args = arguments(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    var = Path(tempfile.mkdtemp(prefix="oospath-fault-"))
    run = start(args, var, started)
    faults = Faults()
    plan = [DrivenCase(n, scenario, f"FI-{n:04d}-{SCENARIOS[scenario]}")
            for n, scenario in enumerate(rng.choices(list(MIX), weights=list(MIX.values()), k=args.cases), 1)]
    driving = Driving()
    killer = Killer(run.fleet, faults, args.kills, lambda: driving.closed / max(len(plan), 1), rng, args.broker_down,
                    started)
    result = Tally()
    backend = make_url(run.database_url).get_backend_name()
    say(f"fault injection: {args.cases} cases, {args.kills} kills, seed {seed}, {backend}, "
        f"SMTP 127.0.0.1:{run.port}, namespace {NAMESPACE}, data in {var}")
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run_faults(args, run, plan, rng, driving, faults, killer, result, started)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        killer.stopping.set()
        if faults.broker_stopped:
            rabbitmqctl("start_app")
        run.fleet.stop()
        run.controller.stop()
        run.app.db.dispose()
    report(result, var, args.keep)


def run_faults(args: argparse.Namespace, run: Run, plan: list[DrivenCase], rng: random.Random, driving: Driving,
               faults: Faults, killer: Killer, result: Tally, started: float) -> None:
    """Drive the cases while the killer strikes, let everything settle, and tally."""
    app = run.app
    run.fleet.start(PROCESSES)
    put_agreement_in_force(app, lambda: wait_until_settled(app, args.settle_timeout))  # OOS-15, once
    killer.start()
    drive(app, run.clock, plan, max(args.window, 1), rng, driving, args.stall_timeout, started)
    driven_s = time.monotonic() - started
    say(f"  [{driven_s:6.1f} s] driving done: {driving.closed} of {len(plan)} closed; settling")
    if driving.stalled:
        killer.stopping.set()
    killer.join()
    if killer.error is not None:
        raise RuntimeError("the killer thread failed") from killer.error
    settled, settle_s, state = settle(app, args.settle_timeout)
    run.fleet.stop()
    check = RabbitMqTransport(run.url, topology=Topology(NAMESPACE))
    dead = len(check.dead_letters())
    check.close()
    wall = time.monotonic() - started
    tally(app, plan, run.recorder, dead, faults, run.var / "logs", result)
    result.check(settled, "settled (outbox published, nothing waiting or queued)",
                 f"{'yes' if settled else 'NO'} after {settle_s:.1f} s ({state})")
    tally_faults(result, faults, driving, args.kills, args.broker_down)
    result.show("wall time", f"{wall:.1f} s (driving {driven_s:.1f} s, settling {settle_s:.1f} s)")


def report(result: Tally, var: Path, keep: bool) -> None:
    """Print the tally; exit 1 (keeping the data) when a check failed, else remove the data unless kept."""
    say("result")
    for line in result.lines:
        say(line)
    if result.failures:
        say(f"FAILED: {', '.join(result.failures)}; logs and data in {var}")
        sys.exit(1)
    say("PASSED: nothing lost, nothing doubled")
    if not keep:
        shutil.rmtree(var, ignore_errors=True)
