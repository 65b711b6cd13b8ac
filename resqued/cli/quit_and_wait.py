"""``resqued quit-and-wait PIDFILE``: QUIT the master and wait until it is gone."""

from __future__ import annotations

import os
import signal

from resqued import pidfile
from resqued.cli.common import parser
from resqued.proc import alive, wait_for_exit


def main(argv: list[str]) -> int:
    p = parser(
        "quit-and-wait",
        "Send QUIT to the master named by PIDFILE and wait for it to "
        "exit (for container preStop hooks). Exit 0: gone; 1: still running at the end "
        "of the grace period.",
    )
    p.add_argument("pidfile")
    p.add_argument(
        "--grace-period",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait (default 30)",
    )
    args = p.parse_args(argv)
    pid = pidfile.read(args.pidfile)
    if not pid or not alive(pid):
        print(f"resqued: no master running (pidfile {args.pidfile})")
        return 0
    os.kill(pid, signal.SIGQUIT)
    if wait_for_exit(pid, args.grace_period):
        print(f"resqued: master {pid} has exited")
        return 0
    print(f"resqued: master {pid} still running after {args.grace_period:g}s")
    return 1
