"""The failed list's index, pages, cursors and bulk changes, against a real redis: what a
request reads follows its page, and the index follows what Ruby does to the list."""

from __future__ import annotations

import json
import random

import pytest
import redis
from support.failed_list import (
    FAILED,
    IDX,
    assert_index_in_step,
    calls,
    push_many,
    record,
    ruby_remove,
    ruby_retry,
)
from support.fleet import pyres_failure

from resqued.resque import failed_index
from resqued.resque import failed_pages as failed_module
from resqued.resque.failed import FailedList, FailureFilter
from resqued.resque.failed_bulk import BlockPlan, split
from resqued.resque.failed_index import Block, IndexChanged
from resqued.resque.failed_record import FailedJob, fields_of, identity, with_retried_at
from resqued.resque.store import Store

BLOCK = 10


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(failed_index, "BLOCK", BLOCK)
    monkeypatch.setattr(failed_module, "CHUNK", BLOCK)


@pytest.fixture
def failed(r):
    return FailedList(Store(r))


def fill(r, n: int, every: int = 10) -> list[bytes]:
    """``n`` records: class Rare on queue mail every ``every``-th, else Common on high."""
    recs = [
        record(i, "Rare", "mail") if i % every == 3 else record(i, "Common", "high")
        for i in range(n)
    ]
    push_many(r, recs)
    return recs


def block_ids(failed) -> list[int]:
    return [b.id for b in failed.index.read().blocks]


def test_identity_ignores_retried_at_and_a_retry_keeps_every_other_byte():
    raw = record(1, "A", "q")
    once = with_retried_at(raw, json.loads(raw), "2024/02/01 10:00:00 UTC")
    twice = with_retried_at(once, json.loads(once), "2024/03/01 10:00:00 UTC")
    assert once == raw[:-1] + b',"retried_at":"2024/02/01 10:00:00 UTC"}'
    assert twice == raw[:-1] + b',"retried_at":"2024/03/01 10:00:00 UTC"}'
    assert identity(raw) == identity(once) == identity(twice) != identity(record(2, "A", "q"))
    odd = b'{"retried_at":"x","payload":{"class":"A"}}'  # not last: encoded again
    assert json.loads(with_retried_at(odd, json.loads(odd), "y")) == {
        "retried_at": "y",
        "payload": {"class": "A"},
    }


@pytest.mark.parametrize(
    "raw",
    [
        record(1, "A", "q"),
        pyres_failure(),
        b"not json",
        b"[1, 2]",
        b'{"payload": "x", "queue": 5}',
        b'{"payload": {"class": null}, "exception": "type", "backtrace": "KeyError: k"}',
    ],
)
def test_the_index_reads_the_fields_a_filter_reads(raw):
    assert fields_of(raw) == FailedJob.parse(0, raw).fields


def test_sync_indexes_blocks_and_counts_each_value(r, failed):
    fill(r, 35)
    layout = failed.index.sync()
    assert [(b.start, b.n) for b in layout.blocks] == [(0, 10), (10, 10), (20, 10), (30, 5)]
    rare = failed.index.counts(layout, FailureFilter(class_name="Rare"))
    assert (
        sorted(rare.values()) == [1, 1, 1, 1] and failed.matching(FailureFilter(queue="mail")) == 4
    )
    push_many(r, [record(100 + i, "Rare", "mail") for i in range(7)])  # Ruby's RPUSH
    layout = failed.index.sync()
    assert [(b.start, b.n) for b in layout.blocks][-2:] == [(30, 10), (40, 2)]
    assert failed.matching(FailureFilter(class_name="Rare")) == 11
    assert_index_in_step(r, failed)


def test_a_filtered_page_reads_only_the_blocks_it_shows(r, failed):
    recs = fill(r, 200, every=50)  # Rare at 3, 53, 103, 153
    failed.index.sync()
    r.config_resetstat()
    page = failed.list(FailureFilter(class_name="Rare"), 1, 2)
    assert [j.index for j in page.jobs] == [103, 53] and page.total == 4 and page.exact
    assert [j.raw for j in page.jobs] == [recs[103], recs[53]]
    used = calls(r)
    assert used["lrange"] == 2 and used["lrem"] == 0  # two blocks of twenty
    assert failed.list(FailureFilter(class_name="Rare"), 4, 2).jobs == []


def test_a_ruby_remove_indexes_only_its_block_again(r, failed):
    fill(r, 100)
    failed.index.sync()
    before = block_ids(failed)
    ruby_remove(r, 75)  # resque-web's Remove: every record after it moves down by one
    r.config_resetstat()
    assert failed.list(FailureFilter(class_name="Rare"), 0, 3).jobs[0].index == 92
    assert block_ids(failed) == before and calls(r)["evalsha"] == 1  # block 7 again, alone
    assert [b.n for b in failed.index.read().blocks][6:] == [10, 9, 10, 10]
    ruby_remove(r, 0)
    ruby_remove(r, 0)
    push_many(r, [record(500, "Rare", "mail")])  # the list's length alone hides the change
    page = failed.list(FailureFilter(class_name="Rare"), 0, 20)
    assert [j.index for j in page.jobs][:2] == [97, 90] and page.total == 11
    assert block_ids(failed)[:10] == before
    assert_index_in_step(r, failed)


def test_removes_in_two_blocks_cut_the_index_back_to_the_first(r, failed):
    fill(r, 100)
    failed.index.sync()
    before = block_ids(failed)
    ruby_remove(r, 75)
    ruby_remove(r, 25)
    assert failed.matching(FailureFilter(class_name="Rare")) == 10
    after = block_ids(failed)
    assert after[:2] == before[:2] and after[2] not in before  # from block 2 on: again
    assert_index_in_step(r, failed)


def test_ruby_retries_change_no_block(r, failed):
    fill(r, 40)
    failed.index.sync()
    before = block_ids(failed)
    for i in (0, 9, 10, 39):  # block ends, which the index checks
        ruby_retry(r, i)
    page = failed.list(FailureFilter(class_name="Common", retried=True), 0, 10)
    assert [j.index for j in page.jobs] == [39, 10, 9, 0]
    assert block_ids(failed) == before
    assert_index_in_step(r, failed)


def test_a_deleted_list_empties_the_index(r, failed):
    fill(r, 30)
    failed.index.sync()
    r.delete(FAILED)  # Ruby's Resque::Failure.clear
    assert failed.list(FailureFilter(queue="mail")).jobs == []
    assert failed.index.read().blocks == []
    assert not list(r.scan_iter(f"{IDX}:v:*")) and not list(r.scan_iter(f"{IDX}:b:*"))
    fill(r, 12)
    assert failed.matching(FailureFilter(queue="mail")) == 1
    failed.clear()
    assert failed.index.read().blocks == [] and not list(r.scan_iter(f"{IDX}:v:*"))


def test_remove_by_filter_takes_out_only_matches_with_one_lrem_per_side(r, failed):
    recs = fill(r, 300)
    failed.index.sync()
    r.config_resetstat()
    assert failed.remove_matching(FailureFilter(class_name="Rare")) == 30
    assert r.lrange(FAILED, 0, -1) == [x for i, x in enumerate(recs) if i % 10 != 3]
    assert calls(r)["lrem"] <= 2 and calls(r)["lset"] == 30
    assert_index_in_step(r, failed)


def test_retry_by_filter_pushes_matches_in_order_and_changes_nothing_else(r, failed):
    recs = fill(r, 100)
    r.config_resetstat()
    assert failed.retry_matching(FailureFilter(queue="mail")) == 10
    after = r.lrange(FAILED, 0, -1)
    for i, (old, new) in enumerate(zip(recs, after, strict=True)):
        if i % 10 == 3:
            assert new.startswith(old[:-1] + b',"retried_at":"') and identity(new) == identity(old)
        else:
            assert new == old
    queued = [json.loads(x)["args"][0] for x in r.lrange("resque:queue:mail", 0, -1)]
    assert queued == list(range(3, 100, 10)) and calls(r)["lrem"] == 0


def test_a_filter_the_index_cannot_count_goes_on_with_a_cursor(r, failed, monkeypatch):
    monkeypatch.setattr(failed_module, "SCAN_BUDGET", 25)
    recs = fill(r, 200)
    for i in (5, 77, 150, 151, 199):
        ruby_retry(r, i)
    where = FailureFilter(retried=True)
    page = failed.list(where, 0, 2)  # 40 records read (a round trip of 4 chunks): 25 is enough
    assert [j.index for j in page.jobs] == [199] and not page.exact and page.more == 160
    page = failed.list(where, 0, 2, before=page.more)
    assert [j.index for j in page.jobs] == [151, 150] and page.more == 150  # a full page
    seen = [151, 150]
    while page.more is not None:
        page = failed.list(where, 0, 2, before=page.more)
        seen += [j.index for j in page.jobs]
    assert seen == [151, 150, 77, 5] and failed.matching(where) == 5
    assert recs[0] == r.lindex(FAILED, 0)


def test_a_changed_part_of_the_index_refuses_the_change(r, failed):
    fill(r, 15)
    stale = failed.index.sync()
    push_many(r, [record(99, "A", "q")])
    failed.index.sync()
    with pytest.raises(IndexChanged):  # the last block grew meanwhile
        failed.index.apply(ops=[], want={stale.blocks[-1].id: stale.blocks[-1].value})


def test_markers_of_a_remove_in_progress_are_not_drift(r, failed):
    fill(r, 20)
    layout = failed.index.sync()
    r.lset(FAILED, 10, b"resqued:removing:abc:h")  # the first record of block 2
    assert failed.list(FailureFilter(queue="high"), 0, 30).total == 18
    assert block_ids(failed) == [b.id for b in layout.blocks]


def test_split_sends_each_record_to_the_nearer_end():
    def plan(*at: int) -> BlockPlan:
        jobs = [FailedJob(i, b"x", None) for i in at]
        return BlockPlan.of(Block(-1, at[0], 1, "", ""), False, [], jobs)

    near_head, middle, near_tail = plan(5, 8), plan(480), plan(990)
    head, tail = split([near_head, middle, near_tail], 1000)
    assert head == [near_head, middle] and tail == [near_tail]
    assert split([plan(995)], 1000) == ([], [plan(995)])
    assert split([plan(3)], 1000)[0] == [plan(3)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_against_a_model_while_ruby_changes_the_list(r, failed, monkeypatch, seed):
    """Random Ruby RPUSH, remove, requeue and clear between our pages, retries and removes;
    every answer is checked against a plain reading of the whole list."""
    monkeypatch.setattr(failed_index, "BLOCK", 4)
    monkeypatch.setattr(failed_module, "CHUNK", 5)
    monkeypatch.setattr(failed_module, "SCAN_BUDGET", 7)
    rng = random.Random(seed)
    filters = [
        FailureFilter(class_name="X"),
        FailureFilter(queue="a", exception="E1"),
        FailureFilter(exception="E2", retried=False),
        FailureFilter(retried=True),
    ]
    n = 0

    def model(where: FailureFilter) -> list[tuple[int, bytes]]:
        jobs = [FailedJob.parse(i, x) for i, x in enumerate(r.lrange(FAILED, 0, -1))]
        return [(j.index, j.raw) for j in jobs if where.matches(j)][::-1]

    for _ in range(150):
        size, op, where = r.llen(FAILED), rng.random(), rng.choice(filters)
        if op < 0.3:
            k = rng.randint(1, 9)
            push_many(
                r,
                [
                    record(n + i, rng.choice("XYZ"), rng.choice("ab"), rng.choice(["E1", "E2"]))
                    for i in range(k)
                ],
            )
            n += k
        elif op < 0.4 and size:
            ruby_remove(r, rng.randrange(size))
        elif op < 0.45 and size:
            ruby_retry(r, rng.randrange(size))
        elif op < 0.47:
            r.delete(FAILED)
        elif op < 0.57:
            want = len(model(where))
            assert failed.remove_matching(where) == want and model(where) == []
        elif op < 0.62:
            want = len([x for x in model(where) if b'"queue":""' not in x[1]])
            assert failed.retry_matching(where) == want
        else:
            want = model(where)
            start, count = rng.choice([0, 1, 5]), rng.choice([1, 3, 10])
            page = failed.list(where, start, count)
            got = [(j.index, j.raw) for j in page.jobs]
            if page.exact:
                assert got == want[start : start + count] and page.total == len(want)
            else:
                assert got == want[start : start + len(got)]
    assert_index_in_step(r, failed)


def test_a_client_that_may_not_write_reads_pages_without_the_index(r, redis_server):
    recs = fill(r, 60)
    r.execute_command("ACL", "SETUSER", "viewer", "on", ">viewer-pw", "~*", "+@all", "-@write")
    try:
        viewer = redis.Redis.from_url(redis_server.url, username="viewer", password="viewer-pw")
        failed = FailedList(Store(viewer))
        page = failed.list(FailureFilter(class_name="Rare"), 0, 4)
        assert [j.raw for j in page.jobs] == [recs[i] for i in (53, 43, 33, 23)]
        assert failed.matching(FailureFilter(class_name="Rare")) == 6
        assert not r.exists(IDX)  # nothing written
    finally:
        r.execute_command("ACL", "DELUSER", "viewer")
