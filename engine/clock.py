"""The clock is injected everywhere a time is read, so tests can jump 48 hours."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from engine.settings import Settings


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, demo)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


class FileClock:
    """A simulated clock shared by several processes through a file (demo and fault-injection runs only).

    Selected with OOSPATH_CLOCK_FILE; the file holds one ISO 8601 UTC time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        return datetime.fromisoformat(self.path.read_text().strip())

    def set(self, moment: datetime) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(moment.isoformat())
        os.replace(temporary, self.path)

    def advance(self, delta: timedelta) -> datetime:
        moment = self.now() + delta
        self.set(moment)
        return moment


def configured_clock(settings: Settings) -> Clock:
    """The shared simulated clock of ``settings.clock_file`` (OOSPATH_CLOCK_FILE) if set, else wall-clock time."""
    return FileClock(settings.clock_file) if settings.clock_file else SystemClock()
