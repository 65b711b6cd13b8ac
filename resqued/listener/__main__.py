"""``python -m resqued.listener``: a listener's boot, then its loop.

Started by the master with fork+exec in the directory the operator named
(followed afresh each time, so a reload after a symlink switch runs the new
release).  Boot: evaluate the config, ask Redis whether it answers, import the
application, give the log files to ``user()`` and become it,
``gc.collect(); gc.freeze()``; then report ``RUNNING``, fork the workers and,
in a process of its own, prune dead workers (``pruner.py``).
A boot that fails reports ``FAILED <reason>`` (one line) and exits 1.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
from typing import Any

from resqued import app, ipc, reachable
from resqued.config import load
from resqued.config.model import Overrides
from resqued.errors import ResquedError
from resqued.listener import compat
from resqued.listener.loop import SIGNALS, Listener
from resqued.process import logs, proctitle
from resqued.process.proc import set_parent_death_signal
from resqued.resque.connection import redact
from resqued.resque.store import Store

log = logging.getLogger("resqued")

ENV_SPEC = "RESQUED_LISTENER"


def boot(number: int, channel: ipc.Channel, spec: dict[str, Any]) -> Listener:
    config = load(Overrides.from_json(spec["overrides"]))
    store = Store.connect(config.redis_url, config.namespace)
    listener = Listener(number, channel, config, spec["master_pid"], store)
    listener.wakeup.catch(SIGNALS)  # signals during a slow import are queued, not lost
    log.info("listener #%d: %s", number, reachable.check(store))
    compat.boot(config, bool(spec.get("reload")))  # lock file, logging, loader reset on HUP
    if config.preload_app:
        app.require_all(config.requires)
    compat.queues_from_jobs(listener)  # resque_starter: no queues given
    compat.drop_privileges(config, logs.paths())  # user(): the logs to it, then become it
    gc.collect()
    gc.freeze()  # objects loaded so far stay shared with the workers (copy-on-write)
    return listener


def main() -> int:
    logs.setup()
    spec = json.loads(os.environ.pop(ENV_SPEC))
    number = spec["number"]
    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} listener #{number} 0/0/0 starting")
    set_parent_death_signal(signal.SIGQUIT)
    logs.redirect(spec.get("stdout_path"), spec.get("stderr_path"))
    logging.getLogger("resqued").setLevel(spec.get("log_level", logging.INFO))
    channel = ipc.Channel.from_fd(spec["fd"])
    if os.getppid() != spec["master_pid"]:
        log.error("listener #%d: master %d is already gone", number, spec["master_pid"])
        return 1
    try:
        listener = boot(number, channel, spec)
    except ResquedError as exc:
        reason = redact(str(exc))
    except Exception as exc:  # the application's own error while importing: one line
        reason = redact(f"{type(exc).__name__}: {exc}")
    else:
        return listener.run()
    log.error("listener #%d cannot start: %s", number, reason)
    channel.send(ipc.Failed(reason))
    return 1


if __name__ == "__main__":
    sys.exit(main())
