"""``resqued quit-and-wait PIDFILE``: QUIT the master and wait until it is gone."""

from __future__ import annotations

import signal
import sys

from resqued.cli.common import parser
from resqued.master import pidfile


def main(argv: list[str]) -> int:
    p = parser(
        "quit-and-wait",
        "Send QUIT to the master named by PIDFILE and wait for it to exit (for container "
        "preStop hooks). Exit 0: gone (or none was running); 1: still running at the end "
        "of the grace period; 2: the pidfile does not name a resqued master (garbage, a pid "
        "<= 1, or another process: a stale pidfile), which is never signalled.",
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
    try:
        handle = pidfile.open_master(args.pidfile)
    except pidfile.PidfileError as exc:
        print(f"resqued: {exc}", file=sys.stderr)
        return 2
    if handle is None:
        print(f"resqued: no master running (pidfile {args.pidfile})")
        return 0
    with handle:
        handle.signal(signal.SIGQUIT)
        if handle.wait(args.grace_period):
            print(f"resqued: master {handle.pid} has exited")
            return 0
    print(f"resqued: master {handle.pid} still running after {args.grace_period:g}s")
    return 1
