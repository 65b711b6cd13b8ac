"""Recurring schedules: resque-scheduler's YAML, its cron and every forms, and when they fire."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from resqued.config.view import MasterView
from resqued.errors import ConfigError
from resqued.master.state import MasterState, SchedulerRecord
from resqued.scheduler import schedule, timing
from resqued.scheduler.recurring import Recurring
from resqued.scheduler.spec import SchedulerSpec, scheduler_setting


def at(*fields: int, zone: str = "UTC") -> float:
    return datetime(*fields, tzinfo=ZoneInfo(zone)).timestamp()


def shown(t: float, zone: str = "UTC") -> str:
    return datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


# -- cron, as fugit reads it ----------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "start", "expected"),
    [
        ("*/15 * * * * UTC", (2025, 1, 1, 10, 7), "2025-01-01 10:15:00"),
        ("0 5 * * * Europe/Berlin", (2025, 1, 1, 10, 0), "2025-01-02 04:00:00"),  # 05:00 CET
        ("30 * * * * * UTC", (2025, 1, 1, 10, 0), "2025-01-01 10:00:30"),  # seconds first
        ("0 0 9 * * mon UTC", (2025, 1, 1, 10, 0), "2025-01-06 09:00:00"),  # six fields, no zone
        ("0 0 L * * UTC", (2025, 2, 3, 0, 0), "2025-02-28 00:00:00"),
        ("0 0 last * * UTC", (2025, 2, 3, 0, 0), "2025-02-28 00:00:00"),
        ("0 0 -1 * * UTC", (2025, 2, 3, 0, 0), "2025-02-28 00:00:00"),
        ("0 9 * * mon#2 UTC", (2025, 1, 1, 0, 0), "2025-01-13 09:00:00"),
        ("0 9 * * fri#-1 UTC", (2025, 1, 1, 0, 0), "2025-01-31 09:00:00"),
        ("0 9 * * fri#L UTC", (2025, 1, 1, 0, 0), "2025-01-31 09:00:00"),
        ("@hourly UTC", (2025, 1, 1, 10, 7), "2025-01-01 11:00:00"),
        ("@noon", (2025, 1, 1, 13, 0), "2025-01-02 12:00:00"),
        ("0 12 * jan-mar sat,sun +09:00", (2025, 1, 1, 0, 0), "2025-01-04 03:00:00"),
    ],
)
def test_cron_lines_fire_when_fugit_would(monkeypatch, line, start, expected):
    monkeypatch.setenv("TZ", "UTC")
    trigger = timing.cron(line, "test")
    assert shown(trigger.first(at(*start))) == expected


def test_a_cron_line_in_a_zone_keeps_its_wall_clock_across_dst():
    trigger = timing.cron("0 5 * * * America/Chicago", "test")
    first = trigger.first(at(2025, 3, 7, 12, 0))  # DST starts on the 9th at 02:00
    assert shown(first, "America/Chicago") == "2025-03-08 05:00:00"
    assert shown(trigger.after(first, first), "America/Chicago") == "2025-03-09 05:00:00"
    assert trigger.after(first, first) - first == 23 * 3600


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0 * * sun%2", "fugit's modulo"),
        ("0 0 * * sun#-2", "counted from the end"),
        ("0 0 -3 * *", "from the month's end"),
        ("0 0 * * * Mars/Olympus", "neither weekdays nor a time zone"),
        ("1 2 3", "has 3 fields"),
        ("99 * * * *", "not a valid cron line"),
        ("@reboot", "not a cron shorthand"),
        ("", "a cron line is a string"),
    ],
)
def test_a_bad_cron_line_is_one_line(line, message):
    with pytest.raises(ConfigError) as info:
        timing.cron(line, "schedule 'x' cron")
    assert message in str(info.value) and str(info.value).startswith("schedule 'x' cron")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
    ],
)
def test_every_takes_rufus_durations(text, seconds):
    assert timing.every(text, "e").period == seconds


def test_every_starts_a_period_after_load_and_never_catches_up():
    trigger = timing.every(["10s", {"first_in": "2s"}], "e")
    assert trigger.first(1000.0) == 1002.0
    assert trigger.after(1002.0, 1002.5) == 1012.0
    assert trigger.after(1012.0, 1075.0) == 1082.0  # 6 periods missed: one run, then on time


# -- the file -------------------------------------------------------------------------

YAML = """
clear_leaderboards:
  cron: "0 0 * * * UTC"
  class: ClearLeaderboards
  queue: low
  args: contributors
  description: "This job resets the weekly leaderboard"
MakeTea:
  every: ["1h", {first_in: 120}]
  queue: kitchen
  args: [{"milk": true}]
prod_only:
  every: 1m
  queue: q
  rails_env: production, staging
elsewhere:
  every: 1m
  queue: q
  env: development
no_timing:
  class: Nothing
  queue: q
"""


def test_resque_scheduler_yaml(tmp_path):
    path = tmp_path / "schedule.yml"
    path.write_text(YAML)
    entries = schedule.load_file(str(path), "staging")
    assert sorted(entries) == ["MakeTea", "clear_leaderboards", "prod_only"]
    clear = entries["clear_leaderboards"]
    assert (clear.class_name, clear.queue, clear.args, clear.kind) == (
        "ClearLeaderboards",
        "low",
        ["contributors"],
        "cron",
    )
    tea = entries["MakeTea"]
    assert (tea.class_name, tea.args, tea.kind) == ("MakeTea", [{"milk": True}], "every")
    assert tea.trigger.first(0.0) == 120.0
    assert sorted(schedule.load_file(str(path), None)) == ["MakeTea", "clear_leaderboards"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", "schedule file is not valid YAML"),
        ("- a\n- b\n", "maps names to entries, not a list"),
        ("a: 5\n", "schedule 'a': an entry is a mapping"),
        ("a:\n  every: 1m\n", "schedule 'a': give its queue (the mover does not load a"),
        ("a:\n  every: soon\n  queue: q\n", "'soon' is not a duration"),
        ("a:\n  cron: '* *'\n  queue: q\n", "has 2 fields"),
        ("a:\n  every: 1m\n  queue: q\n  custom_job_class: X\n", "custom_job_class"),
    ],
)
def test_a_bad_schedule_file_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "schedule.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        schedule.load_file(str(path), None)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_a_missing_schedule_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read schedule file .*No such file"):
        schedule.load_file(str(tmp_path / "nope.yml"), None)


def test_dynamic_entries_that_cannot_be_used_are_left_out():
    raw = {
        b"tick": b'{"every":"1m","queue":"q"}',
        b"broken": b"{not json",
        b"noqueue": b'{"every":"1m"}',
    }
    entries = schedule.parse_dynamic(raw, None)
    assert list(entries) == ["tick"] and entries["tick"].class_name == "tick"


# -- when they fire -------------------------------------------------------------------


def entries(**periods: float) -> schedule.Schedule:
    return {
        name: schedule.Entry(name, name, "q", [], "", timing.Every(f"{p}s", p))
        for name, p in periods.items()
    }


def test_runs_missed_while_nobody_held_the_lock_are_not_made_up():
    r = Recurring()
    r.load(entries(a=10.0, b=25.0), now=1000.0)
    assert r.due(1009.0) == [] and r.next_time() == 1010.0
    assert [(e.name, t) for e, t in r.due(1010.0)] == [("a", 1010.0)]
    r.load(entries(a=10.0, b=25.0), now=5000.0)  # the lock taken again much later
    assert r.due(5000.0) == [] and r.next_time() == 5010.0


def test_a_dynamic_change_replaces_one_schedule():
    r = Recurring()
    r.load(entries(a=10.0), now=0.0)
    r.put("b", entries(b=5.0)["b"], now=2.0)
    r.put("a", None, now=2.0)
    assert [e.name for e, _ in r.due(7.0)] == ["b"] and r.next_time() == 12.0


# -- settings -------------------------------------------------------------------------


def test_scheduler_settings_are_checked():
    spec = scheduler_setting(None, True, {"schedule": "s.yml", "interval": "0.5", "dynamic": True})
    assert spec == SchedulerSpec(schedule_file="s.yml", interval=0.5, dynamic=True)
    assert scheduler_setting(spec, False, {}) is None
    with pytest.raises(ConfigError, match="no setting 'intervl'"):
        scheduler_setting(None, True, {"intervl": 1})
    with pytest.raises(ConfigError, match="lock_timeout must be between"):
        scheduler_setting(None, True, {"lock_timeout": 0})


def test_the_view_and_the_state_carry_the_mover():
    spec = SchedulerSpec(schedule_file="s.yml", lock_timeout=30, env="production")
    view = MasterView(pool_size=1, scheduler=spec)
    assert MasterView.from_dict(view.to_dict()) == view
    assert MasterView.from_dict({**view.to_dict(), "scheduler": None}).scheduler is None
    state = MasterState(view=view, scheduler=SchedulerRecord(4321, spec))
    again = MasterState.from_json(state.to_json())
    assert again.scheduler == SchedulerRecord(4321, spec) and again.view.scheduler == spec


def test_a_state_from_before_the_scheduler_has_no_mover():
    old = MasterState(view=MasterView()).to_json()
    assert '"scheduler"' not in old
    assert MasterState.from_json(old).scheduler is None


def test_resque_schedulers_environment_gives_the_defaults(monkeypatch):
    monkeypatch.setenv("RESQUE_SCHEDULER_INTERVAL", "1.5")
    monkeypatch.setenv("LOCK_TIMEOUT", "30")
    monkeypatch.setenv("DYNAMIC_SCHEDULE", "true")
    monkeypatch.setenv("RESQUE_SCHEDULER_MASTER_LOCK_PREFIX", "MyApp")
    monkeypatch.setenv("DELAYED_REQUEUE_BATCH_SIZE", "500")
    spec = scheduler_setting(None, True, {"interval": 2})
    assert spec == SchedulerSpec(
        interval=2.0, lock_timeout=30, dynamic=True, lock_prefix="MyApp", batch_size=500
    )
    monkeypatch.setenv("LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match=r"^\$LOCK_TIMEOUT: scheduler lock_timeout must be"):
        scheduler_setting(None, True, {})


def test_a_lock_that_would_expire_between_two_turns_is_refused():
    with pytest.raises(ConfigError, match=r"lock_timeout \(5s\) must be longer than its interval"):
        scheduler_setting(None, True, {"lock_timeout": 5, "interval": 5})
