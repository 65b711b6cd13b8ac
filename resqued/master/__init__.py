"""The master: owns the pidfile, the signals and the logs; runs listeners; never runs user code.

``loop`` is the ``Master`` (its loop, one ``handle_<signal>`` per signal, what it
does when a listener is ready, fails or exits); ``start`` starts one (config
check, file checks, pidfile, ``-D``, ``--hot-swap``); ``state`` is what crosses
a USR2 re-exec and ``upgrade`` runs it (preflight, exec); ``listeners`` and
``proxy`` are its handles on the listener processes; ``compat`` says what a
signal means (resqued's own, or a compat command's), with ``pool_killer`` and
``log_rotation`` beside it; ``status``, ``registry``, ``metrics`` and
``job_stats`` say what the master is doing; ``pidfile``, ``daemon`` and
``replace_file`` are its files.  See docs/architecture.md and docs/processes.md.
"""
