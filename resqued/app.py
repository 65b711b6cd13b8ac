"""Loading the application: ``-r`` modules and files, imported and allowed for job lookup."""

from __future__ import annotations

import importlib
import os
import sys

from resqued import jobs
from resqued.errors import ResquedError


def require(spec: str) -> None:
    """Import a module (``myapp.jobs``) or a file (``app/jobs.py``) and allow its job classes."""
    if spec.endswith(".py") or os.sep in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise ResquedError(f"cannot require {spec!r}: no such file")
        directory, name = os.path.split(path)
        module = os.path.splitext(name)[0]
        if directory not in sys.path:
            sys.path.insert(0, directory)
    else:
        module = spec
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ResquedError(f"cannot require {spec!r}: {exc}") from None
    except Exception as exc:  # the application's own error: say which, keep the traceback
        raise ResquedError(f"cannot require {spec!r}: {type(exc).__name__}: {exc}") from exc
    jobs.allow_module(module)


def require_all(specs: list[str]) -> None:
    for spec in specs:
        require(spec)
