"""``bench/report.py`` writes docs/performance.md from the bench's JSON lines: the machine
first, one table per benchmark measured, an earlier page's sections kept for those not run
this time, a note for those never measured, and the feed edge's section included."""

from __future__ import annotations

import json

from bench import machine
from bench.report import main, render

HOST = {"bench": "machine", "cpu": "Test CPU", "cores": 2, "memory_gib": 24.0,
        "python": "3.11.7", "system": "Linux", "load_1m": 0.5, "quick": False}
FIGURE = {"bench": "db", "metric": "durable_saves_per_s", "value": 15920.0, "unit": "saves/s",
          "baseline": 1278.0, "ratio": 12.46, "better": "higher", "writers": 64}


def test_the_page_says_where_each_figure_comes_from():
    page = render([HOST, FIGURE])

    assert "Machine of the last run: Test CPU, 2 cores, 24.0 GiB, Python 3.11.7" in page
    assert "| durable_saves_per_s | 15,920 saves/s | 1,278 | 12.46 | higher | writers 64 |" in page
    assert "## `budget`" in page and "Not measured" in page.split("## `budget`")[1][:200]
    assert "## Market data: the feed edge" in page


def test_a_run_of_one_group_keeps_the_other_sections(tmp_path):
    first = render([HOST, FIGURE, {**FIGURE, "bench": "sweep", "metric": "sweep_seconds"}])
    again = render([HOST, {**FIGURE, "value": 1.0}], previous=first)

    assert "sweep_seconds" in again  # kept from the earlier page
    assert "| durable_saves_per_s | 1 saves/s |" in again  # replaced by this run


def test_the_page_can_be_rendered_from_kept_lines(tmp_path):
    lines = tmp_path / "bench.jsonl"
    lines.write_text(json.dumps(HOST) + "\n" + json.dumps(FIGURE) + "\nnot json\n")
    out = tmp_path / "performance.md"

    assert main(["--from", str(lines), "-o", str(out)]) == 0
    assert "15,920 saves/s" in out.read_text()


def test_the_machine_note_has_what_a_reader_needs():
    here = machine()

    assert here["bench"] == "machine" and here["cores"] and here["python"]
