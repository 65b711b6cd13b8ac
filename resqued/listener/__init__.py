"""The listener: imports the application once, forks the workers, and supervises them.

``__main__`` boots it (``python -m resqued.listener``), ``loop`` supervises,
``slots`` decides, ``spawn`` forks.  See docs/processes.md.
"""
