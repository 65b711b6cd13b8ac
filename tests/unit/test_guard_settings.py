"""Guard-rail settings: sizes, limits that belong together, where each is set, and what wins."""

from __future__ import annotations

import pytest

import resqued
from resqued.config import limits, load
from resqued.config.model import Config, Overrides, WorkerRow
from resqued.errors import ConfigError
from resqued.worker.build import options_for
from resqued.worker.limits import BadLimit, ClassLimits, TimeLimits
from resqued.worker.options import WorkerOptions, jittered, size


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2GB", 2 * 10**9),
        ("2G", 2 * 10**9),
        ("512M", 512 * 10**6),
        ("512MiB", 512 * 2**20),
        ("512mi", 512 * 2**20),
        ("1.5GiB", 3 * 2**29),
        (" 64 KiB ", 64 * 1024),
        ("1000", 1000),
        (4096, 4096),
        ("0", 0),
    ],
)
def test_sizes(text, value):
    assert limits.size(text, "memory_limit") == value


@pytest.mark.parametrize("text", ["2XB", "GB", "-1G", "lots", "1.2.3M", True, -5])
def test_sizes_that_do_not_parse_name_the_setting(text):
    with pytest.raises(ConfigError, match="memory_limit"):
        limits.size(text, "memory_limit")


def config_file(tmp_path, text: str) -> Overrides:
    path = tmp_path / "c.py"
    path.write_text(text)
    return Overrides({}, [str(path)])


def test_the_dsl_sets_every_guard_rail(tmp_path):
    c = load(
        config_file(
            tmp_path,
            "job_timeout(300)\njob_soft_timeout(240)\nmemory_limit('2GiB')\n"
            "memory_soft_limit('1.5GiB')\njobs_per_fork(100)\njobs_per_fork_jitter(20)\n"
            "max_age(3600)\nmax_age_jitter(600)\nstuck_timeout(30)\n"
            "worker('mail', job_timeout=30, job_soft_timeout=20, memory_limit='1G')\n"
            "workload(['a', 'b'], memory_soft_limit='100M')\n",
        )
    )
    assert (c.job_timeout, c.job_soft_timeout) == (300.0, 240.0)
    assert (c.memory_limit, c.memory_soft_limit) == (2 * 2**30, 3 * 2**29)
    assert (c.jobs_per_fork_jitter, c.max_age, c.stuck_timeout) == (20, 3600.0, 30.0)
    assert c.max_age_jitter == 600.0
    mail, a, b = c.workers
    assert (mail.job_timeout, mail.job_soft_timeout, mail.memory_limit) == (30.0, 20.0, 10**9)
    assert a.memory_soft_limit == b.memory_soft_limit == 10**8 and a.job_timeout is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("job_timeout(-1)", "job_timeout must not be negative"),
        (
            "job_timeout(30)\njob_soft_timeout(40)",
            "job_soft_timeout (40s) must be below job_timeout (30s)",
        ),
        ("memory_limit('1G')\nmemory_soft_limit('2G')", "memory_soft_limit"),
        ("memory_limit('2XB')", "memory_limit must be a size such as 2GB"),
        ("max_age('soon')", "max_age must be a number of seconds"),
        ("stuck_timeout(1)", "stuck_timeout must be 0 (off) or at least 2 seconds"),
        ("jobs_per_fork_jitter(-3)", "jobs_per_fork_jitter must not be negative"),
        ("max_age_jitter(-3)", "max_age_jitter must not be negative"),
        ("worker('a', job_timeout=5, job_soft_timeout=5)", "worker('a'): job_soft_timeout (5s)"),
        ("worker('a', memory_limit='x')", "worker('a') memory_limit must be a size"),
        ("worker('a', timeout=5)", "worker('a'): unknown setting timeout="),
        ("threads(1000)", "threads must be at most 256"),
    ],
)
def test_limits_that_make_no_sense_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        load(config_file(tmp_path, text))
    assert "\n" not in str(err.value)


def test_flags_parse_and_override_the_file(tmp_path):
    from resqued.cli.run import master_parser, overrides_from

    args = master_parser().parse_args(
        [
            "--job-timeout",
            "60",
            "--memory-limit",
            "1GiB",
            "--max-age",
            "600",
            "--max-age-jitter",
            "60",
            "--stuck-timeout",
            "0",
        ]
    )
    values = overrides_from(args, str(tmp_path)).values
    assert values["job_timeout"] == 60.0 and values["memory_limit"] == 2**30
    assert values["max_age"] == 600.0 and values["stuck_timeout"] == 0.0
    assert values["max_age_jitter"] == 60.0
    with pytest.raises(ConfigError, match="--memory-limit must be a size"):
        overrides_from(master_parser().parse_args(["--memory-limit", "big"]), str(tmp_path))


def test_rows_with_limits_cross_json():
    row = WorkerRow(("a", "b"), 2.0, job_timeout=30.0, memory_limit=10**9)
    back = Overrides.from_json(Overrides({"workers": [row]}).to_json())
    assert back.values["workers"] == [row]


def test_the_most_specific_setting_wins():
    config = Config(job_timeout=300, job_soft_timeout=240, memory_limit=2**30)
    plain = options_for(config)
    assert (plain.job_timeout, plain.job_soft_timeout, plain.memory_limit) == (300, 240, 2**30)
    row = WorkerRow(("a",), job_timeout=100.0, memory_limit=0)
    opts = options_for(config, row)
    # the row's hard limit is below the global soft one: that soft limit is dropped
    assert (opts.job_timeout, opts.job_soft_timeout, opts.memory_limit) == (100.0, 0.0, 0)
    classes = ClassLimits(opts.job_timeout, 50.0)

    class Plain:
        pass

    class Own:
        job_timeout = 10

    class OffToo:
        job_timeout = 0
        job_soft_timeout = 5

    class Wrong:
        job_soft_timeout = "soon"

    assert classes.of(Plain) == TimeLimits(100.0, 50.0)
    assert classes.of(Own) == TimeLimits(10.0, 0.0)  # class's hard limit below the soft one
    assert classes.of(OffToo) == TimeLimits(0.0, 5.0)
    with pytest.raises(BadLimit, match="job class .*Wrong: job_soft_timeout must be"):
        classes.of(Wrong)


def test_the_job_decorator_sets_and_checks_limits():
    @resqued.job("GuardReport", timeout=300, soft_timeout=240)
    class Report:
        @staticmethod
        def perform():
            pass

    assert (Report.job_timeout, Report.job_soft_timeout) == (300.0, 240.0)
    with pytest.raises(ValueError, match=r"soft_timeout \(300s\) must be below timeout \(240s\)"):
        resqued.job("Bad", timeout=240, soft_timeout=300)(Report)
    with pytest.raises(ValueError, match="timeout must be a number of seconds"):
        resqued.job("Bad", timeout="5m")(Report)


def test_jitter_gives_each_process_its_own_count():
    config = Config(jobs_per_fork=100, jobs_per_fork_jitter=10)
    seen = {options_for(config).jobs_per_fork for _ in range(200)}
    assert seen <= set(range(100, 111)) and len(seen) > 1
    assert options_for(Config(jobs_per_fork=0, jobs_per_fork_jitter=10)).jobs_per_fork == 0


def test_max_age_jitter_gives_each_process_its_own_age():
    seen = {options_for(Config(max_age=3600.0, max_age_jitter=600.0)).max_age for _ in range(200)}
    assert all(3600.0 <= age <= 4200.0 for age in seen) and len(seen) > 1
    assert jittered(0.0, 600.0) == 0.0  # no max age: the jitter makes none
    assert jittered(3600.0, 0.0) == 3600.0 and jittered(100, 0) == 100


def test_titles_show_the_limits_that_apply():
    assert WorkerOptions().limits_tag == ""
    opts = WorkerOptions(
        job_timeout=30,
        job_soft_timeout=24,
        jobs_per_fork=5,
        memory_limit=2**31,
        memory_soft_limit=3 * 2**29,
        max_age=3600,
    )
    assert opts.limits_tag == (
        " [timeout 30s (soft 24s), 5 jobs, memory 2GiB (soft 1.5GiB), max age 3600s]"
    )
    assert TimeLimits(0, 5).tag == " [soft timeout 5s]" and TimeLimits().tag == ""
    assert size(512 * 2**20) == "512MiB" and size(100) == "100B"


def test_the_listener_gives_each_new_worker_its_own_max_age():
    from resqued.listener.watch import Watch
    from resqued.resque.store import Store

    store = Store.connect("redis://127.0.0.1:1/0", "resque")  # never asked: no command is sent
    config = Config(max_age=3600.0, max_age_jitter=600.0)
    watch = Watch(config, store, 0.0)
    options = [options_for(config, WorkerRow(("a",))) for _ in range(50)]
    ages = {watch.rails(opts).max_age for opts in options}
    assert all(3600.0 <= age <= 4200.0 for age in ages) and len(ages) > 1
    assert [watch.rails(opts).max_age for opts in options] == [o.max_age for o in options]
    assert f"max age {options[0].max_age:g}s" in options[0].limits_tag  # the age it got
