#!/usr/bin/env bash
# A running demo from a fresh clone: bash examples/demo/run.sh
# Creates .venv if needed, starts a throwaway redis-server, enqueues jobs, runs resqued,
# shows the process tree, reloads it with HUP, and shuts it down with QUIT.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is missing: apt-get install redis-server" >&2
  exit 1
fi
if [ ! -x .venv/bin/resqued ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e .
fi

TMP=$(mktemp -d)
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export REDIS_URL="redis://127.0.0.1:$PORT/0"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --save '' --appendonly no \
  --daemonize yes --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log"
cleanup() {
  [ -f "$TMP/resqued.pid" ] && kill -KILL "$(cat "$TMP/resqued.pid")" 2>/dev/null || true
  kill "$(cat "$TMP/redis.pid")" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

export PYTHONPATH="$ROOT/examples/demo"
echo "== enqueue 6 jobs (resqued.enqueue writes exactly what Ruby Resque writes)"
.venv/bin/python - <<'PY'
import resqued, demo_jobs
for n in range(3):
    resqued.enqueue(demo_jobs.Archive, 100 + n, "tar")
resqued.enqueue(demo_jobs.Welcome, "ada@example.com")
resqued.enqueue(demo_jobs.Welcome, "grace@example.com")
resqued.enqueue(demo_jobs.Flaky, 1)
PY

echo "== the worker table (resqued --test)"
.venv/bin/resqued -c examples/demo/resqued.conf.py --test

echo "== start resqued"
.venv/bin/resqued -c examples/demo/resqued.conf.py -r demo_jobs -p "$TMP/resqued.pid" \
  -l "$TMP/resqued.log" -D
sleep 2
echo "== processes"
ps -o pid,ppid,args -p "$(cat "$TMP/resqued.pid")" --ppid "$(cat "$TMP/resqued.pid")" || true
ps -e -o pid,ppid,args | grep '[r]esque-' || true
echo "== HUP: new listener, new workers, never more than 4"
kill -HUP "$(cat "$TMP/resqued.pid")"
sleep 2
ps -e -o pid,ppid,args | grep -E '[r]esqued-|[r]esque-' || true
echo "== status"
.venv/bin/resqued status
echo "== QUIT (graceful) and wait"
.venv/bin/resqued quit-and-wait "$TMP/resqued.pid" --grace-period 20
echo "== log"
cat "$TMP/resqued.log"
