"""Put a results block into a RESULTS.md: replace the section with the same heading, else append.

    python -m avdf.bin.put_results --results RESULTS.md --block exp/x/scores/eval.block.md

The block's first heading line (``## name, eval (corpus)``) names its section; a section runs
to the next heading of the same or a higher level. Re-running a scoring stage, or scoring the
same calibrated system again for another fusion, thus updates its entry instead of adding a
copy. Text outside the replaced section is kept as it is; the file is written atomically,
under a lock, so that stage-5 runs finishing together all keep their sections.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from avdf.utils.fileio import atomic_open, locked
from avdf.bin import run

_HEADING = re.compile(r"^(#+) ")


def _level(line: str) -> int:
    m = _HEADING.match(line)
    return len(m.group(1)) if m else 0


def put_section(text: str, block: str) -> str:
    """``text`` with the section headed like ``block``'s first heading replaced by ``block``
    (or ``block`` appended after a blank line)."""
    new = block.strip("\n").splitlines()
    heading = next((ln for ln in new if _level(ln)), None)
    if heading is None:
        raise ValueError("the results block has no markdown heading line ('## ...') to name its section")
    level = _level(heading)
    lines = text.splitlines()
    if heading not in lines:
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + "\n".join(new) + "\n"
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if 0 < _level(lines[i]) <= level), len(lines))
    before, after = lines[:start], lines[end:]
    while before and not before[-1].strip():
        before.pop()
    while after and not after[0].strip():
        after.pop(0)
    out = before + ([""] if before else []) + new + ([""] + after if after else [])
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", required=True, type=Path, help="the RESULTS.md to update (created if missing)")
    p.add_argument("--block", required=True, type=Path, help="a markdown block starting with its heading")
    args = p.parse_args(argv)
    with locked(args.results):  # parallel stage-5 runs update one RESULTS.md: none is lost
        old = args.results.read_text(encoding="utf-8") if args.results.is_file() else ""
        try:
            text = put_section(old, args.block.read_text(encoding="utf-8"))
        except ValueError as e:
            print(f"put_results: {args.block}: {e}", file=sys.stderr)
            return 1
        with atomic_open(args.results) as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "put_results"))
