"""Atomic file writing: a killed or failed stage never leaves a half-written file.

Files written here get the mode an ordinary ``open`` would give (0666 less the umask), not
``mkstemp``'s 0600, so that others on a shared machine read scores and results as usual.
:func:`locked` serialises read-modify-write cycles on a shared file (RESULTS.md).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    ``suffix`` keeps an extension that a writer may need (``.ark``, ``.png``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.fchmod(fd, 0o666 & ~current_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive lock (``flock`` on a ``.<name>.lock`` file beside ``path``) for a
    read-modify-write of ``path``: concurrent writers wait for each other, none is lost."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` when the block succeeds."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_ark_scp(ark: str | os.PathLike, scp: str | os.PathLike, **writer_opts) -> Iterator:
    """A kaldiio ``WriteHelper`` (``writer(key, array)``) over temporary files beside ``ark``
    and ``scp``; when the block succeeds the ark is moved into place and the scp, rewritten to
    name the final ark, replaces ``scp``. On an exception neither is left behind.
    ``writer_opts`` go to ``kaldiio.WriteHelper`` (e.g. ``write_function="numpy"``)."""
    import kaldiio

    ark, scp = Path(ark), Path(scp)
    # unique names: a writer left over from a killed run never shares them with the re-run
    tag = f"{os.getpid()}.{os.urandom(4).hex()}"
    tmp_ark, tmp_scp = ark.with_name(f".{ark.name}.{tag}.tmp"), scp.with_name(f".{scp.name}.{tag}.tmp")
    try:
        with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}", **writer_opts) as writer:
            yield writer
        with open(tmp_scp, encoding="utf-8") as f:
            lines = [ln.replace(str(tmp_ark), str(ark), 1) for ln in f]
        os.replace(tmp_ark, ark)
        with atomic_open(scp) as f:
            f.writelines(lines)
    finally:
        tmp_ark.unlink(missing_ok=True)
        tmp_scp.unlink(missing_ok=True)
