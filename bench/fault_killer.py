"""The faults of the fault injection run: SIGKILLs of the relay and the workers, and one broker restart.

Part of ``python -m bench fault_injection`` (:mod:`bench.fault_injection`).
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.fault_environment import PROCESSES, Fleet, say


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@dataclass
class Faults:
    kills: list[tuple[float, str, int]] = field(default_factory=list)
    broker_restarts: int = 0
    broker_down_s: float = 0.0
    broker_stopped: bool = False
    broker_windows: list[tuple[float, float]] = field(default_factory=list)


class Killer(threading.Thread):
    """SIGKILLs a random process each time the run's progress passes a random threshold; restarts the broker
    once at half-way."""

    def __init__(self, fleet: Fleet, faults: Faults, kills: int, progress: Callable[[], float], rng: random.Random,
                 broker_down: float, started: float) -> None:
        super().__init__(name="killer", daemon=True)
        self.fleet, self.faults, self.progress, self.rng = fleet, faults, progress, rng
        self.thresholds = sorted(rng.uniform(0.0, 0.9) for _ in range(kills))
        self.broker_at = 0.5 if broker_down > 0 else None
        self.broker_down = broker_down
        self.started = started
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.victims: list[str] = []

    def run(self) -> None:
        try:
            for threshold in self.thresholds:
                if not self._wait_for(threshold):
                    return
                self.stopping.wait(self.rng.uniform(0.0, 0.7))  # a random moment, not just after a step
                name = self._next_victim()
                pid = self.fleet.processes[name].pid
                self.fleet.kill(name)
                self.fleet.restart(name)
                self.faults.kills.append((time.monotonic() - self.started, name, pid))
            if self.broker_at is not None and self._wait_for(self.broker_at):
                self._restart_broker()
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _next_victim(self) -> str:
        """Random order, every process once per round: the relay and each worker are all hit."""
        if not self.victims:
            self.victims = list(PROCESSES)
            self.rng.shuffle(self.victims)
        return self.victims.pop()

    def _wait_for(self, threshold: float) -> bool:
        while self.progress() < threshold:
            if self.stopping.wait(0.05):
                return False
        if self.broker_at is not None and self.progress() >= self.broker_at:
            self._restart_broker()
        return not self.stopping.is_set()

    def _restart_broker(self) -> None:
        self.broker_at = None
        say(f"  [{time.monotonic() - self.started:6.1f} s] rabbitmqctl stop_app")
        began = time.monotonic()
        self.faults.broker_stopped = True
        rabbitmqctl("stop_app")
        self.stopping.wait(self.broker_down)
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        self.faults.broker_stopped = False
        self.faults.broker_down_s = time.monotonic() - began
        self.faults.broker_windows.append((began - self.started, time.monotonic() - self.started))
        self.faults.broker_restarts += 1
        say(f"  [{time.monotonic() - self.started:6.1f} s] rabbitmqctl start_app "
            f"(down {self.faults.broker_down_s:.1f} s)")

