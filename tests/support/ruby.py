"""Running Ruby's redis and redis-namespace for real (Debian: ruby-redis-namespace)."""

from __future__ import annotations

import shutil
import subprocess


def ruby_ready() -> bool:
    """Whether ``ruby`` with the redis and redis-namespace gems is installed."""
    if not shutil.which("ruby"):
        return False
    probe = subprocess.run(
        ["ruby", "-e", "require 'redis'; require 'redis/namespace'"], capture_output=True
    )
    return probe.returncode == 0


def run_ruby(code: str, *args: str) -> str:
    out = subprocess.run(
        ["ruby", "-e", code, *args], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout
