"""Ruby's side of resque-scheduler's keys, run for real: Ruby's redis-namespace and JSON.

resque-scheduler itself is not packaged for Debian, but what decides its bytes
is: its lock key goes through redis-namespace (which prefixes the namespace
once more), and its entries through Ruby's JSON.  The Ruby below does what
lib/resque/scheduler/locking.rb, lock/resilient.rb and delaying_extensions.rb
do with them; we must see its lock as held and its entry as ours.  Skipped where
Ruby's redis and redis-namespace are not installed (Debian: ruby-redis-namespace).
"""

from __future__ import annotations

import pytest
from support.ruby import ruby_ready, run_ruby

from resqued.resque import delayed
from resqued.resque.scheduler_lock import SchedulerLock
from resqued.resque.store import Store

RUBY = r"""
require 'json'
require 'redis'
require 'redis/namespace'
r = Redis::Namespace.new(:resque, redis: Redis.new(url: ARGV[0]))
key = "#{r.namespace}:resque_scheduler_master_lock"  # locking.rb's master_lock_key
acquire = "if redis.call('SETNX', KEYS[1], ARGV[1]) == 1 then " \
          "redis.call('EXPIRE', KEYS[1], 180) return 1 else return 0 end"
sha = r.redis.script(:load, acquire)
puts r.evalsha(sha, keys: [key], argv: ['ruby-host:4242'])  # lock/resilient.rb's acquire!
item = {class: 'Archive', args: [35, 'tar', 'é', 1.5, nil, {'k' => '</x>'}], queue: 'file_serve'}
r.rpush('delayed:1700000000', JSON.generate(item))          # delayed_push
"""


@pytest.mark.skipif(not ruby_ready(), reason="needs ruby with redis and redis-namespace")
def test_rubys_lock_and_entry_are_the_ones_we_read(r, redis_url):
    assert run_ruby(RUBY, redis_url).strip() == "1"
    store = Store.connect(redis_url)
    lock = SchedulerLock(store, 180)
    assert lock.holder() == "ruby-host:4242" and not lock.master()
    assert r.lrange("resque:delayed:1700000000", 0, -1) == [
        delayed.entry("Archive", [35, "tar", "é", 1.5, None, {"k": "</x>"}], "file_serve")
    ]
