"""The command line: --test, --help, --version, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.cli import cli_env, run

from resqued.version import __version__


def test_test_prints_the_worker_table_and_starts_nothing(redis_url):
    out = run(
        "-n", "5", "--queue", "low=20%", "--queue", "normal=60%", "--queue", "*",
        "--redis", redis_url, "--test",
    )  # fmt: skip
    assert out.returncode == 0
    assert out.stdout.splitlines()[:7] == [
        "#  queues",
        "1  low,normal,*",
        "2  normal,*",
        "3  normal,*",
        "4  *",
        "5  *",
        "5 workers",
    ]


def test_test_with_a_yaml_file(tmp_path, redis_url):
    (tmp_path / "pool.yml").write_text('foo: 1\n"foo,bar": 2\n')
    out = run("-c", str(tmp_path / "pool.yml"), "--redis", redis_url, "--test")
    assert out.returncode == 0 and out.stdout.splitlines()[1:4] == [
        "1  foo",
        "2  foo,bar",
        "3  foo,bar",
    ]


def test_help_and_version():
    helped = run("--help")
    assert helped.returncode == 0
    for flag in ("-D", "-n", "--queue", "--redis", "-c", "-p", "-l", "--test", "--hot-swap"):
        assert flag in helped.stdout
    # -E's default: resque-pool's order, the first set wins (resqued/config/yaml_pool.py)
    assert "$RACK_ENV, $RAILS_ENV, $RESQUE_ENV" in " ".join(helped.stdout.split())
    assert run("--version").stdout.strip() == f"resqued {__version__}"
    for sub in ("work", "quit-and-wait", "pause", "resume", "status"):
        assert run(sub, "--help").returncode == 0


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["-n", "abc"], "-n/--workers must be a whole number"),
        (["--queue", "high="], "missing amount"),
        (["--queue", "high=lots"], "invalid amount"),
        (["--redis", "http://x"], "invalid Redis URL"),
        (["--redis", "redis://:pw@h:99999/0"], "invalid Redis URL"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["-c", "/no/such/file.py"], "cannot read config file /no/such/file.py"),
        (["-l", "/no/such/dir/x.log"], "cannot write log file"),
        (["--interval", "soon"], "--interval must be a number"),
        (["work", "--jobs-per-fork", "x"], "jobs per fork must be a whole number"),
        (["quit-and-wait"], "the following arguments are required: pidfile"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(args, cause):
    out = run(*args)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert cause in lines[0]
    assert "Traceback" not in out.stderr and "pw@" not in out.stderr


def test_bad_config_file_names_file_and_line(tmp_path):
    (tmp_path / "c.py").write_text("worker_processes(2)\nqueue('x', 'many%')\n")
    out = run("-c", str(tmp_path / "c.py"))
    assert out.returncode == 1
    assert (
        out.stderr.strip()
        == f"resqued: {tmp_path / 'c.py'}:2: queue 'x': invalid percentage 'many%'"
    )


def test_unreachable_redis_for_status_is_one_line():
    out = run("status", "--redis", "redis://127.0.0.1:1/0")
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1 and "redis" in out.stderr


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["--daemon", "--test"], "unrecognized arguments: --daemon"),
        (["--hot", "--test"], "unrecognized arguments: --hot"),
        (["--work", "2", "--test"], "unrecognized arguments: --work"),
        (["work", "--inter", "1", "--jobs-per-fork", "x"], "unrecognized arguments: --inter"),
        (["status", "--name", "x"], "unrecognized arguments: --name"),
        (["quit-and-wait", "p", "--grace", "1"], "unrecognized arguments: --grace"),
        (["pause", "--al"], "one of the arguments --all -p/--pidfile --master is required"),
    ],
)
def test_no_abbreviations(args, cause):
    """``--daemon`` is not ``--daemonize``: an unknown flag is an error, never a guess."""
    out = run(*args)
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert cause in line


@pytest.mark.parametrize(
    ("word", "hint"),
    [
        ("stauts", "(did you mean 'status'?)"),
        ("wrok", "(did you mean 'work'?)"),
        ("pasue", "(did you mean 'pause'?)"),
        (
            "frobnicate",
            "(commands: work, status, failed, queues, schedule, web, quit-and-wait, pause, resume;",
        ),
    ],
)
def test_unknown_command(word, hint):
    out = run(word)
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert line.startswith(f"resqued: unknown command {word!r} ") and hint in line


def test_a_word_naming_an_existing_file_is_a_config_file(tmp_path, redis_url):
    (tmp_path / "workers").write_text("worker_processes(3)\n")
    out = run("workers", "--redis", redis_url, "--test", cwd=tmp_path)
    assert out.returncode == 0 and "3 workers" in out.stdout.splitlines()
    missing = run("missing.py", "--test", cwd=tmp_path)
    assert missing.returncode == 1 and "cannot read config file" in missing.stderr
    assert "missing.py" in missing.stderr


@pytest.mark.parametrize(
    ("args", "env", "cause"),
    [
        (["--threads", "0", "--test"], {}, "--threads must be at least 1"),
        (["work", "--threads", "0"], {}, "--threads (or $THREAD_COUNT) must be at least 1"),
        (["work"], {"THREAD_COUNT": "0"}, "--threads (or $THREAD_COUNT) must be at least 1"),
        (["--log-format", "xml", "--test"], {}, "invalid choice: 'xml'"),
        (["--test"], {"RESQUED_LOG_FORMAT": "xml"}, "$RESQUED_LOG_FORMAT must be text or json"),
        (["status", "--redis", "redis://h", "--redis-url-file", "f"], {}, "not allowed with"),
        (["status", "--redis-url-file", "/no/such/file"], {}, "cannot read Redis URL file"),
    ],
)
def test_more_bad_input_is_one_line(args, env, cause):
    out = run(*args, env=env)
    assert out.returncode in (1, 2)
    [line] = out.stderr.strip().splitlines()
    assert cause in line


def test_pause_and_resume_describe_themselves():
    pause, resume = run("pause", "--help").stdout, run("resume", "--help").stdout
    assert "Stop taking new jobs" in pause and "Stop taking" not in resume
    assert "Take new jobs again" in resume


def run_limited(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``run`` with 30 s and 2 GB of address space: a command reading /dev/zero to its end
    fails on its own instead of taking the machine's memory."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run(
        [sys.executable, "-m", "resqued.cli", *args],
        capture_output=True,
        text=True,
        env=cli_env(None),
        timeout=30,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit,
    )


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["work", "-q", ""], "-q/--queue: an empty queue name"),
        (["work", "-q", "high,,low"], "-q/--queue: an empty queue name in 'high,,low'"),
        (["work", "-q", "high", "-q", " "], "-q/--queue: an empty queue name"),
        (["work", "--namespace", ""], "argument --namespace: must not be empty"),
        (["status", "--namespace", ""], "argument --namespace: must not be empty"),
        (["pause", "--all", "--namespace", ""], "argument --namespace: must not be empty"),
        (["queues", "--namespace", ""], "argument --namespace: must not be empty"),
        (["failed", "list", "--namespace", ""], "argument --namespace: must not be empty"),
        (["-n", "1", "--namespace", "", "--test"], "argument --namespace: must not be empty"),
        (["-c", "/dev/zero", "--test"], "config file /dev/zero is not a regular file"),
        (["-c", "{tmp}/fifo.py", "--test"], "config file {tmp}/fifo.py is not a regular file"),
        (["-c", "{tmp}/big.py", "--test"], "config file {tmp}/big.py is larger than 1 MiB"),
        (["-c", "{tmp}/big.yml", "--test"], "config file {tmp}/big.yml is larger than 1 MiB"),
        (["-c", "{tmp}/big.rb", "--test"], "config file {tmp}/big.rb is larger than 1 MiB"),
        (["-c", "{tmp}/ns.py", "--test"], "{tmp}/ns.py:1: namespace must not be empty"),
    ],
)
def test_issue_23_bad_input_is_one_line(tmp_path, redis_url, args, cause):
    """Nothing runs on an empty queue or namespace; no config file is read without end."""
    os.mkfifo(tmp_path / "fifo.py")
    for name in ("big.py", "big.yml", "big.rb"):
        (tmp_path / name).write_text("# padding\n" * 120_000)
    (tmp_path / "ns.py").write_text("namespace('')\n")
    args = [a.format(tmp=tmp_path) for a in args]
    out = run_limited(*args, "--redis", redis_url, cwd=tmp_path)
    assert out.returncode in (1, 2), out
    [line] = out.stderr.strip().splitlines()
    assert cause.format(tmp=tmp_path) in line, line
