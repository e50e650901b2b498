"""The README is a user's guide: at most 300 lines, with ``make run`` and ``make test`` in its
quick start, and every ``make`` target and ``ratchet`` command it (or a page under docs/) names
exists; every link to a file of this repository resolves; no page carries a dated run diary."""

from __future__ import annotations

import re

import pytest

from cli.main import build_parser
from tests.conftest import REPO

README = REPO / "README.md"
PAGES = [README, *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "DESIGN.md")]
MAKE = re.compile(r"(?:`|^)\s*make ([a-z][a-z-]*)", re.MULTILINE)
RATCHET = re.compile(r"(?:`|\n\s*|\$ )(?:\.venv/bin/)?ratchet ([a-z][a-z-]*)")
LINK = re.compile(r"\]\(([^)#:]+)(#[^)]*)?\)")


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE))


def ratchet_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse's own record
    return set(sub.choices)


def test_the_readme_is_a_guide_of_at_most_300_lines():
    lines = README.read_text().splitlines()

    assert len(lines) <= 300
    text = "\n".join(lines)
    assert "make run " in text and "make test " in text
    for words in ("Quick start", "From paper to live", "preflight", "testnet", "--live",
                  "Configuration essentials", "Monitoring", "crash", "docs/"):
        assert words in text, words


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_and_command_named_exists(page):
    text = page.read_text()
    targets, commands = make_targets(), ratchet_commands()

    named_targets = set(MAKE.findall(text))
    named_commands = set(RATCHET.findall(text))

    assert named_targets <= targets, named_targets - targets
    assert named_commands <= commands, named_commands - commands


def test_the_readme_names_the_main_targets_and_commands():
    text = README.read_text()

    assert {"run", "test", "sim", "run-sim", "preflight-sim", "clean", "clean-state"} <= set(
        MAKE.findall(text))
    assert {"run", "preflight", "status", "replay", "history", "sweep", "db"} <= set(
        RATCHET.findall(text))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_to_a_file_of_the_repository_resolves(page):
    missing = [target for target, _ in LINK.findall(page.read_text())
               if not (page.parent / target).exists()]

    assert not missing


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_is_a_dated_run_diary(page):
    text = page.read_text()

    assert not re.search(r"\bon 20\d\d-\d\d-\d\d\b|\bof 20\d\d-\d\d-\d\d\b|this session", text)
