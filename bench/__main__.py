"""``python -m bench [NAME ...]``: run ``main()`` of every ``bench/*_bench.py`` (or the named
ones, e.g. ``db``), one after the other. A failing module is reported and the rest still run."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(p.stem for p in Path(__file__).parent.glob("*_bench.py"))
    if argv:
        wanted = {a.removesuffix("_bench") for a in argv}
        names = [n for n in names if n.removesuffix("_bench") in wanted]
        if not names:
            sys.stderr.write(f"bench: no benchmark named {' '.join(argv)}\n")
            return 2
    failed = []
    for name in names:
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        sys.stderr.write(f"bench: failed: {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
