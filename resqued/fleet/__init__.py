"""A read model of one Redis server: masters, listeners, workers, queues, stats, failures.

Used by ``resqued status`` (text and ``--json``), the dashboard and scripts::

    from resqued.fleet import read_fleet, render_text, to_json
    fleet = read_fleet(Store.connect(url))
"""

from resqued.fleet.jsonform import fleet_dict, to_json
from resqued.fleet.model import Fleet, Master, Worker
from resqued.fleet.read import read_fleet
from resqued.fleet.text import render as render_text

__all__ = ["Fleet", "Master", "Worker", "fleet_dict", "read_fleet", "render_text", "to_json"]
