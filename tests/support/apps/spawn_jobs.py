"""Jobs that start processes of their own: ``sleep 300``, its pid pushed to ``spawned``."""

import os
import subprocess
import time

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@resqued.job("SpawnSleep")
class SpawnSleep:
    """Starts ``sleep 300`` (never waited for), then works for ``seconds``."""

    queue = "default"

    @staticmethod
    def perform(key, seconds):
        r = redis.Redis.from_url(REDIS_URL)
        child = subprocess.Popen(["sleep", "300"])
        r.rpush("spawned", f"{key}:{child.pid}")
        time.sleep(seconds)  # the job itself
        r.rpush("finished", key)
