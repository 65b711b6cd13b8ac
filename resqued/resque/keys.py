"""Redis key names, as Ruby Resque spells them under a namespace."""

from __future__ import annotations


class Keys:
    """Every key this project reads or writes, under one namespace (default ``resque``)."""

    def __init__(self, namespace: str = "resque") -> None:
        self.namespace = namespace
        self.prefix = f"{namespace}:" if namespace else ""
        p = self.prefix
        self.queues = p + "queues"
        self.workers = p + "workers"
        self.heartbeat = p + "workers:heartbeat"
        self.prune_lock = p + "pruning_dead_workers_in_progress"
        self.failed = p + "failed"
        self.pause = p + "pause-all-workers"
        self.processed = p + "stat:processed"
        self.failed_count = p + "stat:failed"
        # resqued's index of worker ids that may have hand-over lists (see ``handovers``).
        self.handover_workers = p + "resqued:handovers"
        # resque-scheduler's keys (docs/scheduling.md)
        self.delayed_schedule = p + "delayed_queue_schedule"
        self.last_enqueued_at = p + "delayed:last_enqueued_at"
        self.persistent_schedules = p + "persistent_schedules"
        self.schedules_changed = p + "schedules_changed"

    def queue(self, name: str) -> str:
        return f"{self.prefix}queue:{name}"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    def started(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}:started"

    def processed_by(self, worker_id: str) -> str:
        return f"{self.prefix}stat:processed:{worker_id}"

    def failed_by(self, worker_id: str) -> str:
        return f"{self.prefix}stat:failed:{worker_id}"

    def inflight(self, worker_id: str, queue: str = "") -> str:
        """resqued's hand-over list: a job an idle worker's BLMOVE took from ``queue``.

        Without ``queue``: the prefix of all of one worker's lists.
        """
        return f"{self.prefix}resqued:inflight:{worker_id}:{queue}"

    def handovers(self, worker_id: str) -> str:
        """resqued's record of a worker's hand-over lists: a SET of the queues it waited on.

        Written before the idle wait's first BLMOVE on a queue, so a worker's exit
        and a prune find its hand-over lists here, never by scanning the keyspace.
        """
        return f"{self.prefix}resqued:handovers:{worker_id}"

    def host(self, name: str) -> str:
        """resqued's record of a host's last beat (``resque/beats.py``); expires."""
        return f"{self.prefix}resqued:host:{name}"

    def master_pause(self, master_id: str) -> str:
        """resqued's own per-master pause flag (not a Ruby key)."""
        return f"{self.prefix}resqued:pause:{master_id}"

    def delayed(self, epoch: int) -> str:
        """resque-scheduler's list of the jobs due at ``epoch`` (whole seconds)."""
        return f"{self.prefix}delayed:{epoch}"

    def timestamps(self, encoded: bytes) -> bytes:
        """resque-scheduler's set of the ``delayed:<epoch>`` keys holding one encoded job."""
        return self.prefix.encode() + b"timestamps:" + encoded

    def scheduler_lock(self, lock_prefix: str = "") -> str:
        """resque-scheduler's master lock, as it lands in Redis.

        Ruby builds ``"<namespace>:<prefix:>resque_scheduler_master_lock"`` and hands
        it to redis-namespace, which prefixes the namespace once more: the key is
        ``resque:resque:resque_scheduler_master_lock``.  ``lock_prefix`` is its
        ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``.
        """
        middle = f"{lock_prefix}:" if lock_prefix else ""
        return f"{self.prefix}{self.prefix}{middle}resque_scheduler_master_lock"
