"""Write dashboards/alertmanager.yml with its marked values filled in, for `make alertmanager`.

    python3 dashboards/render_alertmanager.py dashboards/alertmanager.yml var/alertmanager/alertmanager.yml

A value followed by ``# from $NAME`` is replaced by the environment variable ``NAME``, or by the
contents of the file named by ``NAME_FILE`` (trailing newline dropped), so a secret can stay in a
mode-0600 file. Unset values keep the committed placeholder and are named on stderr. The output
is created with mode 0600: it may hold the Telegram bot token. Nothing here talks to a network.

Exit codes: 0 written, 2 bad input (unreadable template, a ``_FILE`` that cannot be read, a
chat id that is not an integer).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

MARKED = re.compile(r"^(?P<key>\s*(?:-\s+)?[A-Za-z_]+:[ \t]*)(?P<value>\S.*?)"
                    r"(?P<comment>[ \t]+#[ \t]*from \$(?P<name>[A-Z][A-Z0-9_]*)\b.*)$")
INTEGER_KEYS = frozenset({"chat_id"})


class RenderError(Exception):
    """One line for a person, exit 2."""


def lookup(name: str, env: Mapping[str, str]) -> str | None:
    """``env[name]``, else the contents of the file ``env[name + "_FILE"]``, else None."""
    if env.get(name):
        return env[name]
    path = env.get(name + "_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise RenderError(f"{name}_FILE={path}: cannot read: {exc.strerror}") from None


def render(template: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """(the filled-in text, the names left unset)."""
    out, unset = [], []
    for line in template.splitlines():
        match = MARKED.match(line)
        if match is None:
            out.append(line)
            continue
        name = match["name"]
        value = lookup(name, env)
        if value is None:
            unset.append(name)
            out.append(line)
            continue
        key = match["key"].strip().lstrip("- ").rstrip(":").strip()
        if key in INTEGER_KEYS:
            if not re.fullmatch(r"-?[0-9]+", value.strip()):
                raise RenderError(f"{name} must be an integer (a Telegram chat id), got {value!r}")
            rendered = value.strip()
        else:
            rendered = json.dumps(value)  # a YAML double-quoted scalar
        out.append(f"{match['key']}{rendered}{match['comment']}")
    return "\n".join(out) + "\n", unset


def write_private(path: Path, text: str) -> None:
    """Create or replace ``path`` with mode 0600 from the start (no window with a wider mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def main(argv: list[str], env: Mapping[str, str] = os.environ) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: render_alertmanager.py TEMPLATE OUTPUT\n")
        return 2
    try:
        try:
            template = Path(argv[0]).read_text()
        except OSError as exc:
            raise RenderError(f"{argv[0]}: cannot read: {exc.strerror}") from None
        text, unset = render(template, env)
    except RenderError as exc:
        sys.stderr.write(f"render_alertmanager: {exc}\n")
        return 2
    write_private(Path(argv[1]), text)
    if unset:
        sys.stderr.write("render_alertmanager: not set, placeholders kept (those receivers will "
                         f"fail until set): {', '.join(unset)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
