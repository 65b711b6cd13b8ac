"""What any of our processes is made of, with no policy: what master, listener and workers share.

``proc`` (quiet signals, liveness, pidfd handles, a deadlined child),
``wakeup`` (signals into a loop), ``proctitle`` (the titles ``ps`` shows),
``logs`` and ``redact`` (log files, no secret in any line), ``files``,
``lockfile``, ``workdir``, ``privileges`` (``user()``), ``systemd``
(``sd_notify``), ``backoff``.  Nothing here imports anything of resqued but
``errors`` and ``version``.
"""
