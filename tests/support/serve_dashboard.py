"""Run the dashboard the way ``resqued web`` will: ``python serve_dashboard.py BIND [FLAGS]``.

The token comes from $RESQUED_WEB_TOKEN, Redis from $REDIS_URL; samples every 0.5 s.
FLAGS: ``--proxy-headers``, ``--forwarded-allow-ips IPS``, ``--external-url URL``.
"""

import argparse
import sys

from resqued.errors import ResquedError
from resqued.resque.store import Store
from resqued.web import load_token, serve
from resqued.web.options import proxy_options

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("bind")
    p.add_argument("--proxy-headers", action="store_true")
    p.add_argument("--forwarded-allow-ips")
    p.add_argument("--external-url")
    args = p.parse_args()
    try:
        proxy = proxy_options(args.proxy_headers, args.forwarded_allow_ips, args.external_url)
        serve(args.bind, load_token(), Store.connect(), sample_interval=0.5, proxy=proxy)
    except ResquedError as exc:
        print(f"resqued: {exc}", file=sys.stderr)
        sys.exit(1)
