"""Hot instances' running processes kept deserialized between steps, per process (issue 10, item 2).

Rebuilding an instance's running process (:class:`~engine.bpmn.running_process.RunningProcess`)
from its stored state is a large part of every step. A running process a step saved is kept once
the step's transaction has committed, together with the instance version it was committed at.
The next load of that instance in this process *takes* it (nobody else can use it meanwhile),
and only if the instance row it has just read — under the instance lock when it steps —
carries that very version: every step, in this process or in
another one, raises the version, so a stale one is never used. A step that fails is rolled
back and never returns its running process, which it may have changed; a read (a task's or the
process's data) gives back the one it took, unchanged, at the version it read. The cache is a bounded
least-recently-used map; its size comes from ``Settings.workflow_cache_size`` (0 turns it off).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy import inspect as orm_state
from sqlalchemy.orm import Session, SessionTransaction

if TYPE_CHECKING:
    from engine.bpmn.running_process import RunningProcess
    from engine.services.runtime import LoadedInstance

_SAVED = "oospath.saved_workflows"  # Session.info key: processes this transaction saved, kept at its commit


class WorkflowCache:
    """Instance id -> (committed version, definition id, running process), at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[int, int, RunningProcess]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, instance_id: str, version: int, definition_id: int) -> RunningProcess | None:
        """The running process committed at ``version``, removed from the cache; None when absent or stale."""
        if not self.size:
            return None
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        if entry is None or entry[0] != version or entry[1] != definition_id:
            return None  # a stale entry is dropped, never used
        return entry[2]

    def keep_after_commit(self, session: Session, loaded: LoadedInstance) -> None:
        """Offer the running process a step just saved; it enters the cache only if the transaction commits."""
        if self.size:
            session.info.setdefault(_SAVED, {})[loaded.row.id] = (self, loaded)

    def give_back(self, loaded: LoadedInstance) -> None:
        """Return a running process that was only read (never changed) at the version its row was read at,
        unless a newer one was kept meanwhile."""
        if self.size:
            self._put(loaded, loaded.row.version)

    def _keep(self, loaded: LoadedInstance) -> None:
        self._put(loaded, orm_state(loaded.row).dict.get("version"))  # as committed; never reloaded here

    def _put(self, loaded: LoadedInstance, version: int | None) -> None:
        """Keep ``loaded``'s running process at ``version`` (never in place of a newer one; never a completed
        instance's), dropping the least recently used beyond ``size``."""
        if version is None or loaded.row.status == "completed":
            return
        with self._lock:
            kept = self._entries.get(loaded.row.id)
            if kept is not None and kept[0] > version:
                return
            self._entries[loaded.row.id] = (version, loaded.definition.id, loaded.process)
            self._entries.move_to_end(loaded.row.id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


@event.listens_for(Session, "after_commit")
def _keep_committed(session: Session) -> None:
    for cache, loaded in session.info.pop(_SAVED, {}).values():
        cache._keep(loaded)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_SAVED, None)  # (a savepoint too) the processes may hold changes that were not stored


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_SAVED, None)  # closed without commit
