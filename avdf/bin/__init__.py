"""The recipe stages, one module each (``python -m avdf.bin.<stage>``), and their shared
top-level error handler.

``sys.exit(run(main))`` instead of ``sys.exit(main())``: an error that avdf raises on
purpose (any exception class defined in an ``avdf`` module: bad data dirs, configs, audio,
checkpoints, score files ...) and a missing or unreadable file become one line
``<prog>: <message>`` on stderr and exit status 1; anything else (a bug) keeps its
traceback. The messages themselves name the file, the line and what is wrong.
"""
from __future__ import annotations

import os
import sys
from typing import Callable


def is_project_error(e: BaseException) -> bool:
    return any(c.__module__.split(".")[0] == "avdf" for c in type(e).__mro__ if c is not object)


def run(main: Callable[[], int | None], prog: str | None = None) -> int:
    prog = prog or os.path.basename(sys.argv[0]).removesuffix(".py")
    try:
        return int(main() or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        if is_project_error(e):
            print(f"{prog}: {e}", file=sys.stderr)
        else:
            print(f"{prog}: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - re-raised unless it is one of avdf's own
        if not is_project_error(e):
            raise
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"{prog}: {msg}", file=sys.stderr)
        return 1
