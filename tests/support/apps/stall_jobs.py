"""A job that leaves Redis stalled behind it: its worker records it and exits on a slow Redis."""

import os
import socket
import time
from urllib.parse import urlparse

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@resqued.job("StallAtEnd")
class StallAtEnd:
    """Runs ``seconds``, records itself, then has Redis sleep ``stall`` seconds (DEBUG SLEEP,
    sent without waiting for its reply) and returns at once."""

    queue = "slow"

    @staticmethod
    def perform(key, seconds, stall):
        r = redis.Redis.from_url(REDIS_URL)
        r.rpush("started", f"{key}:{os.getpid()}")
        time.sleep(seconds)
        r.rpush("finished", key)
        url = urlparse(REDIS_URL)
        sock = socket.create_connection((url.hostname, url.port or 6379))
        stall = str(stall).encode()
        sock.sendall(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$%d\r\n%s\r\n" % (len(stall), stall))
        time.sleep(0.05)  # Redis has read it and sleeps; the job ends during the stall
        sock.close()
