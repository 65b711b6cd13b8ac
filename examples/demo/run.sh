#!/usr/bin/env bash
# A running demo from a fresh clone:   bash examples/demo/run.sh
#
# 1. creates .venv and installs the package (first run only)
# 2. starts a throwaway redis-server on a free loopback port in a temp dir
# 3. enqueues a few jobs
# 4. runs `resqued -c examples/demo/resqued.conf.py -r demo_jobs` in the foreground,
#    shows the process tree and the jobs being processed, reloads it with HUP,
#    then sends QUIT and waits for the graceful exit
# Everything it started is stopped on exit (trap), also on Ctrl-C. Runs about 15 seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is missing. On Debian/Ubuntu: sudo apt-get install redis-server" >&2
  exit 1
fi
if [ ! -x .venv/bin/resqued ]; then
  echo "== creating .venv and installing resqued (first run only)"
  if ! python3 -m venv .venv; then
    echo "python3 -m venv failed. On Debian/Ubuntu: sudo apt-get install python3-venv" >&2
    exit 1
  fi
  .venv/bin/pip install -q --disable-pip-version-check -e .
fi

TMP=$(mktemp -d)
MASTER=""
cleanup() {
  trap - EXIT INT TERM
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

PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export REDIS_URL="redis://127.0.0.1:$PORT/0"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --save '' --appendonly no \
  --daemonize yes --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log"
for _ in $(seq 50); do
  .venv/bin/python -c 'import os, redis; redis.Redis.from_url(os.environ["REDIS_URL"]).ping()' \
    2>/dev/null && break
  sleep 0.1
done
echo "== redis-server on $REDIS_URL (data in $TMP)"

# -r demo_jobs imports a module: make examples/demo importable.
export PYTHONPATH="$PWD/examples/demo${PYTHONPATH:+:$PYTHONPATH}"

# Print a process and all its descendants as a tree.
tree() {
  local all=$1 level=$1
  while level=$(pgrep -d, -P "$level" 2>/dev/null); do all="$all,$level"; done
  ps --forest -o pid=,ppid=,args= -p "$all" || true
}

echo "== enqueue 7 jobs (what Ruby's Resque.enqueue writes)"
.venv/bin/python - <<'PY'
import resqued, demo_jobs
for n in range(3):
    resqued.enqueue(demo_jobs.Archive, 100 + n, "tar")
resqued.enqueue(demo_jobs.Welcome, "ada@example.com")
resqued.enqueue(demo_jobs.Welcome, "grace@example.com")
resqued.enqueue(demo_jobs.Flaky, 1)
resqued.enqueue(demo_jobs.MonthlyReport, 5)   # still running when we look at ps
PY

echo "== who works what: resqued -c examples/demo/resqued.conf.py --test"
.venv/bin/resqued -c examples/demo/resqued.conf.py --test

echo "== resqued -c examples/demo/resqued.conf.py -r demo_jobs (foreground, logs below)"
.venv/bin/resqued -c examples/demo/resqued.conf.py -r demo_jobs -p "$TMP/resqued.pid" &
MASTER=$!
sleep 2.5
echo "== process tree: master, listener, 4 workers; one forked a child for the slow job"
tree "$MASTER"

echo "== enqueue 2 more while it runs"
.venv/bin/python -c 'import resqued, demo_jobs; resqued.enqueue(demo_jobs.Archive, 200); resqued.enqueue(demo_jobs.Welcome, "linus@example.com")'
sleep 1

echo "== HUP: a new listener loads the code again; old workers finish their job, new ones take the freed slots"
kill -HUP "$MASTER"
sleep 1
echo "== during the reload: never more than 4 workers (listener #2 waits for the slow job's slot)"
tree "$MASTER"
sleep 3
echo "== after the reload"
tree "$MASTER"

echo "== resqued status"
.venv/bin/resqued status

echo "== QUIT: every worker finishes its job, then all exit"
.venv/bin/resqued quit-and-wait "$TMP/resqued.pid" --grace-period 20
wait "$MASTER" || true
MASTER=""
echo "== done"
