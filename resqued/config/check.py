"""``python -m resqued.config.check``: evaluate the configuration in a process of its own.

The master never runs configuration or hook code itself: at start-up, for
``--test`` and before a USR2 re-exec it starts this short-lived process, which
evaluates the config files (its answer holds their ``MasterView``), optionally
imports the application, asks Redis whether it answers, and runs
``before_exec`` hooks; it writes one JSON document
to the descriptor named by ``--result-fd`` and exits.  Whatever the config
does (loops, exits, crashes), the caller only sees a result, an error line, or
its own deadline passing.

The request arrives as JSON on stdin: ``{"overrides": ..., "import_app": bool,
"check_redis": bool, "strict": bool, "before_exec": bool}``.  A Redis that does
not answer fails the check only when ``strict`` (``--test --strict``, the USR2
preflight); otherwise it is reported (``redis_down``) and the check passes.  A
Redis that answers but refuses us, or is too old, always fails it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from resqued.config.compat_queues import default_queues
from resqued.config.loader import load
from resqued.config.model import Overrides
from resqued.config.view import MasterView
from resqued.errors import ResquedError
from resqued.process.proc import set_parent_death_signal
from resqued.scheduler import schedule


def check(request: dict[str, Any]) -> dict[str, Any]:
    from resqued import app, hooks

    config = load(Overrides.from_json(request["overrides"]))
    result: dict[str, Any] = {"ok": True, "view": MasterView.of(config).to_dict()}
    if config.scheduler:  # a bad schedule file stops the start with its one line
        schedule.check(config.scheduler)
    if request.get("import_app"):
        app.require_all(config.requires)
        result["app"] = ", ".join(config.requires) if config.requires else "nothing to import"
        if default_queues(config):  # resque_starter: the job classes' queues, now imported
            result["view"] = MasterView.of(config).to_dict()
    if request.get("check_redis"):
        from resqued import reachable
        from resqued.resque.connection import RedisUnreachable
        from resqued.resque.store import Store

        try:
            result["redis"] = reachable.check(Store.connect(config.redis_url, config.namespace))
        except RedisUnreachable as exc:
            if request.get("strict"):
                raise
            result["redis_down"] = str(exc)
    if request.get("before_exec"):
        hooks.run("config.before_exec", config.hooks["before_exec"])
    return result


def main(argv: list[str]) -> int:
    fd = int(argv[argv.index("--result-fd") + 1])
    set_parent_death_signal(signal.SIGKILL)  # a killed master takes its check along, hung or not
    if os.getppid() != int(argv[argv.index("--parent") + 1]):
        return 1  # it died before the parent-death signal was set
    try:
        result = check(json.load(sys.stdin))
    except ResquedError as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # an error of the application or a hook: say which, one line
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.flush()
    with os.fdopen(fd, "w") as out:
        json.dump(result, out)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
