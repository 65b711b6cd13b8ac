"""``resqued quit-and-wait PIDFILE``: QUIT the master and wait until it is gone.

As Ruby resqued's: for a container's preStop hook, it gives up 5 s before the
grace period ends (so that the runtime does not kill the hook first) and exits 99
then; ``--quiet`` prints nothing.
"""

from __future__ import annotations

import signal
import sys

from resqued.cli.common import parser
from resqued.master import pidfile

GRACE_MARGIN = 5.0  # seconds left of the grace period when it gives up (Ruby resqued's)
STILL_RUNNING = 99  # Ruby resqued's exit status then


def main(argv: list[str]) -> int:
    p = parser(
        "quit-and-wait",
        "Send QUIT to the master named by PIDFILE and wait for it to exit (for container "
        "preStop hooks). Exit 0: gone (or none was running); 99: still running 5 s before "
        "the end of the grace period (as Ruby resqued); 2: the pidfile does not name a "
        "resqued master (garbage, not a plausible pid, pid 1 without a matching "
        "PIDFILE.start, or another process: a stale pidfile), which is never signalled.",
    )
    p.add_argument("pidfile")
    p.add_argument(
        "--grace-period",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="the container runtime's grace period: wait until 5 s before it ends (default 30)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing (errors still)")
    args = p.parse_args(argv)

    def say(text: str) -> None:
        if not args.quiet:
            print(text)

    try:
        handle = pidfile.open_master(args.pidfile)
    except pidfile.PidfileError as exc:
        print(f"resqued: {exc}", file=sys.stderr)
        return 2
    if handle is None:
        say(f"resqued: no master running (pidfile {args.pidfile})")
        return 0
    wait = max(0.0, args.grace_period - GRACE_MARGIN)
    with handle:
        handle.signal(signal.SIGQUIT)
        if handle.wait(wait):
            say(f"resqued: master {handle.pid} has exited")
            return 0
    say(f"resqued: master {handle.pid} still running after {wait:g}s")
    return STILL_RUNNING
