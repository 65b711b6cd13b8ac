"""Shared test helpers: a real redis-server, started commands, process tables, job helpers.

Import what a test needs from the submodule that holds it::

    from support.procs import wait_for, ps, descendants
    from support.jobs import push, failures
    from support.redis_server import ExtraRedis
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
