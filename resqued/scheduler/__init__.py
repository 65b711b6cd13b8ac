"""The scheduler: the mover process that puts due delayed jobs and recurring schedules on queues.

It speaks resque-scheduler's keys and lock (``resqued/resque/delayed.py``,
``resqued/resque/scheduler_lock.py``), so a Ruby resque-scheduler and ours share
one Redis: at most one of them moves at a time.  The master supervises it like a
listener (``resqued/master/scheduler.py``); it never imports the application.

- ``spec``: its settings as data (``scheduler()`` in the config, ``--scheduler``),
  carried by the master's view of the config;
- ``timing``: when a ``cron`` (fugit's forms, time zones) or an ``every`` fires;
- ``schedule``: resque-scheduler's schedule YAML and dynamic schedules, checked;
- ``recurring``: which schedules are due, fired once by the lock's holder;
- ``mover``: the process's loop; ``__main__`` boots it.
"""
