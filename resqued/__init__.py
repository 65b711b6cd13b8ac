"""resqued: a unicorn-style process manager for Resque-compatible Redis jobs.

Producers::

    import resqued

    @resqued.job("Archive")
    class Archive:
        queue = "file_serve"

        @staticmethod
        def perform(repo_id, branch="master"):
            ...

    resqued.enqueue(Archive, 35, "tar")
"""

from resqued.hooks import worker_hook
from resqued.job_hooks import DontPerform
from resqued.jobs import UnknownJobClass, allow_module, job
from resqued.producer import connect, dequeue, enqueue, enqueue_to
from resqued.version import __version__

__all__ = [
    "DontPerform",
    "UnknownJobClass",
    "__version__",
    "allow_module",
    "connect",
    "dequeue",
    "enqueue",
    "enqueue_to",
    "job",
    "worker_hook",
]
