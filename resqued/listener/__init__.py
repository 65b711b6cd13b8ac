"""The listener: imports the application once, forks the workers, and supervises them.

``__main__`` boots it (``python -m resqued.listener``), ``loop`` supervises,
``slots`` and ``guard`` decide (which slot starts; which worker to kill or
retire, and why), ``watch`` carries out the guard rails and reads the workers'
scoreboards, ``memory`` reads ``/proc``, ``stats`` sums the job statistics,
``beat`` writes the workers' Redis heartbeat, ``spawn`` forks.  See
docs/processes.md and docs/guard-rails.md.
"""
