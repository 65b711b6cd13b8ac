"""resque_starter's default queues: ``$QUEUES``, else the queues of the app's job classes.

resque_starter builds its workers with ``Resque::Worker.new(*queues)``; without
``queues`` in its config, Resque's worker reads ``$QUEUES`` (or ``$QUEUE``).
When neither is set, resqued takes the ``queue`` attribute of every job class
the application defined (registered with ``@resqued.job``, or found in a
module given with ``-r``), A-Z: the queues its producers enqueue to.  This
needs the application imported, so it runs after the preload (in a listener,
and in ``--test``).
"""

from __future__ import annotations

import os

from resqued import jobs
from resqued.config.model import Config, QueueRule
from resqued.errors import ConfigError


def default_queues(config: Config) -> bool:
    """Set resque_starter's default queues on ``config`` if it asks for them; True if set."""
    if not config.compat.queues_from_jobs or config.queue_rules or config.workers:
        return False
    env = os.environ.get("QUEUES") or os.environ.get("QUEUE") or ""
    names = [q.strip() for q in env.split(",") if q.strip()]
    if not names:
        if not config.preload_app:
            raise ConfigError("no queues given: give queues(...) or $QUEUES (preload_app is off)")
        found = {getattr(cls, "queue", None) for cls in jobs.known_classes()}
        names = sorted(q for q in found if isinstance(q, str) and q)
    if not names:
        raise ConfigError("no queues given, and no job class of the application has a queue")
    config.queue_rules = [QueueRule(name) for name in names]
    return True
