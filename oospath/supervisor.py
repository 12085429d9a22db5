"""Starting and stopping oospath's messaging processes (relay, workers) as child processes.

Used by `oospath demo --broker amqp` and the fault-injection run; in production each
process is a service of its own (docker-compose.yml).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CONSUMER_KINDS = ("notifications", "records", "reporting", "results", "inbound")


def command(kind: str) -> list[str]:
    executable = [sys.executable, "-m", "oospath.cli"]
    return [*executable, "relay"] if kind == "relay" else [*executable, "worker", kind]


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self.restart(kind)

    def restart(self, kind: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{kind}.log").open("ab")
        process = subprocess.Popen(command(kind), env={**os.environ, **self.env}, stdout=log, stderr=log)
        self.processes[kind] = process
        return process

    def kill(self, kind: str) -> None:
        """SIGKILL: the process gets no chance to ack, flush or clean up (fault injection)."""
        self.processes[kind].send_signal(signal.SIGKILL)
        self.processes[kind].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
