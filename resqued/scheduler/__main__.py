"""``python -m resqued.scheduler``: the mover process's boot, then its loop.

Started by the master with fork+exec (``resqued/master/scheduler.py``), its
settings as JSON in ``$RESQUED_SCHEDULER``: the ``SchedulerSpec``, the Redis URL
and namespace, the master's pid and log files, and the pids of movers of this
master that died (their lock is freed at once rather than after its timeout).
It never imports the application: the schedule file and Redis are all it reads.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

from resqued.errors import ResquedError
from resqued.process import logs, proctitle
from resqued.process.proc import set_parent_death_signal
from resqued.resque.store import Store
from resqued.scheduler.mover import Mover
from resqued.scheduler.spec import SchedulerSpec

log = logging.getLogger("resqued")

ENV_SPEC = "RESQUED_SCHEDULER"


def main() -> int:
    logs.setup()
    doc = json.loads(os.environ.pop(ENV_SPEC))
    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} scheduler starting")
    set_parent_death_signal(signal.SIGTERM)  # a master gone: let the lock go for another
    logs.redirect(doc.get("stdout_path"), doc.get("stderr_path"))
    logging.getLogger("resqued").setLevel(doc.get("log_level", logging.INFO))
    if os.getppid() != doc["master_pid"]:
        log.error("scheduler: master %d is already gone", doc["master_pid"])
        return 1
    try:
        spec = SchedulerSpec.from_dict(doc["scheduler"])
        store = Store.connect(doc.get("redis_url"), doc.get("namespace") or "resque")
    except (ResquedError, ValueError) as exc:
        log.error("scheduler cannot start: %s", exc)
        return 1
    return Mover(spec, store, doc.get("dead_pids") or ()).run()


if __name__ == "__main__":
    sys.exit(main())
