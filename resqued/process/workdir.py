"""The working directory as the operator named it, symlinks and all.

A deploy that switches ``current -> releases/2`` and sends HUP expects the new
listener to run the new release.  The kernel resolves a symlink once, at
``chdir``; so, as unicorn and Ruby resqued do, the master remembers the path
it was started in (``--chdir DIR``, else ``$PWD`` when it names the current
directory) and each new listener ``chdir``s there again.
"""

from __future__ import annotations

import os


def same_directory(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def logical_cwd(explicit: str | None = None) -> str:
    """``explicit`` (made absolute), else $PWD if it is the current directory, else getcwd()."""
    here = os.getcwd()
    if explicit:
        path = os.path.normpath(os.path.join(os.environ.get("PWD") or here, explicit))
        if not os.path.isdir(path):
            from resqued.errors import ResquedError

            raise ResquedError(f"--chdir {explicit}: no such directory")
        return path
    pwd = os.environ.get("PWD")
    if pwd and os.path.isabs(pwd) and same_directory(pwd, here):
        return os.path.normpath(pwd)
    return here
