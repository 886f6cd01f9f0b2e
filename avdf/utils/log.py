"""Logging set-up shared by every ``python -m avdf.bin.<verb>`` entry point."""
from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def setup_logging(verbose: int = 0) -> None:
    """Log to stderr with timestamps; only rank 0 logs at INFO under DDP."""
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbose > 0 else (logging.INFO if rank == 0 else logging.WARNING)
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
