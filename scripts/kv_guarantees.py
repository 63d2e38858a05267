"""Race two bot instances on each backend and print (or, with --write, put in docs/kv.md) the
table of KV guarantees. The races are seeded: every run gives the same counts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.kv_races import TABLE_END, TABLE_START, render_table, run_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="replace the table in docs/kv.md")
    table = render_table(asyncio.run(run_all()))
    if not parser.parse_args().write:
        print(table)
        return
    readme = ROOT / "docs" / "kv.md"
    text = readme.read_text()
    start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
    readme.write_text(text[:start] + table + text[end:])
    print(f"wrote the table into {readme}")


if __name__ == "__main__":
    main()
