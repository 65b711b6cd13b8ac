"""Run the dashboard the way ``resqued web`` will: ``python serve_dashboard.py BIND``.

The token comes from $RESQUED_WEB_TOKEN, Redis from $REDIS_URL; samples every 0.5 s.
"""

import sys

from resqued.errors import ResquedError
from resqued.resque.store import Store
from resqued.web import load_token, serve

if __name__ == "__main__":
    try:
        serve(sys.argv[1], load_token(), Store.connect(), sample_interval=0.5)
    except ResquedError as exc:
        print(f"resqued: {exc}", file=sys.stderr)
        sys.exit(1)
