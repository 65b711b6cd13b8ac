"""``resqued status``: queues, workers, failures and pauses as Redis sees them."""

from __future__ import annotations

import json

from resqued.cli.common import add_redis_args, parser, store
from resqued.resque.store import text


def main(argv: list[str]) -> int:
    p = parser("status", "Show queues, workers, failures and pauses as Redis sees them.")
    add_redis_args(p)
    args = p.parse_args(argv)
    st = store(args)  # one line and exit 1 if Redis cannot be reached or refuses us
    k = st.keys
    r = st.redis
    queues = st.queue_names()
    pipe = r.pipeline(transaction=False)
    for q in queues:
        pipe.llen(k.queue(q))
    sizes = pipe.execute()
    worker_ids = sorted(text(w) for w in r.smembers(k.workers))
    pipe = r.pipeline(transaction=False)
    for w in worker_ids:
        pipe.get(k.worker(w))
    doing = pipe.execute()
    processed, failed = r.get(k.processed), r.get(k.failed_count)
    print(
        f"processed {int(processed or 0)}, failed {int(failed or 0)} "
        f"(failed list: {r.llen(k.failed)})"
    )
    print("paused: all workers" if st.paused() else "paused: no (globally)")
    for key in r.scan_iter(match=k.master_pause("*")):
        print(f"paused: master {key.decode()[len(k.master_pause('')) :]}")
    print(f"\nqueues ({len(queues)})")
    for q, n in zip(queues, sizes, strict=True):
        print(f"  {q:<30} {n}")
    print(f"\nworkers ({len(worker_ids)})")
    for w, job in zip(worker_ids, doing, strict=True):
        state = "waiting"
        if job:
            try:
                doc = json.loads(job)
                state = f"working {doc['payload'].get('class')} since {doc.get('run_at')}"
            except (ValueError, KeyError, AttributeError):
                state = "working (unreadable record)"
        print(f"  {w:<40} {state}")
    return 0
