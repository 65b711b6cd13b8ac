"""A job retried by Ruby's side and ours counts the same attempts: Ruby's bytes, run for real.

resque-retry is not packaged for Debian; what decides its key is: the arguments
through Ruby's JSON and ``Array#join('-')``, ``Digest::SHA1``, and Resque's
redis-namespace client (which prefixes the namespace once).  The Ruby below does
what lib/resque/plugins/retry.rb's ``before_perform_retry`` and ``try_again``
(with no delay) do with them: count the run in the attempt key, then queue the job
again.  Our worker then runs the retries and must count on from Ruby's attempt.
"""

from __future__ import annotations

import pytest
from support.jobs import failures, work
from support.procs import wait_for
from support.ruby import ruby_ready, run_ruby
from support.worker import quit_

RUBY = r"""
require 'json'
require 'digest/sha1'
require 'redis'
require 'redis/namespace'
r = Redis::Namespace.new(:resque, redis: Redis.new(url: ARGV[0]))
args = JSON.parse('[{"id":7,"ratio":1.5,"tags":["a",null],"big":1e20}]')
ident = Digest::SHA1.hexdigest(args.join('-'))
key = ['resque-retry', 'AlwaysFails', ident].join(':').gsub(/\s/, '')
r.setnx(key, -1)
puts r.incr(key)                            # attempt 0: Ruby's run, which failed
r.setnx(key, -1)                            # try_again
r.sadd('queues', 'default')
r.rpush('queue:default', JSON.generate({class: 'AlwaysFails', args: args}))
puts "#{r.namespace}:#{key}"
"""


@pytest.mark.skipif(not ruby_ready(), reason="needs ruby with redis and redis-namespace")
def test_our_worker_counts_on_from_rubys_attempt(resqued, app_dir, r, redis_url):
    attempt, key = run_ruby(RUBY, redis_url).split()
    assert attempt == "0" and r.get(key) == b"0"
    w = work(resqued, app_dir, "-q", "default", lib="retry_jobs")
    wait_for(lambda: r.llen("resque:failed") == 1, 20, "the last failure")
    [record] = failures(r)
    assert record["retry_attempt"] == 3  # Ruby's run was attempt 0; ours were 1, 2 and 3
    assert r.llen("runs") == 3 and not r.exists(key)
    quit_(w)
