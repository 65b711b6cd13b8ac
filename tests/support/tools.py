"""The machine's tools a test needs: a test without one is skipped, and failed in CI."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def absent(reason: str) -> NoReturn:
    """Skip the test for ``reason`` (a tool not installed); in CI, fail it."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def needs(tool: str, package: str) -> str:
    """The path of ``tool``, from Debian's ``package``."""
    path = shutil.which(tool)
    if not path:
        absent(f"{tool} is not installed (apt-get install {package})")
    return path
