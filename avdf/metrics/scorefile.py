"""Score files (ARCHITECTURE.md "Scores") and their join with a data dir's keys.

CM / AV: ``<utt> <score>``; ASV / SASV: ``<enroll> <test> <score>``; higher = bona fide /
target / real. The organisers' ASVspoof 2019 ASV scores: ``CM_KEY ASV_KEY SCORE``
(DATASETS.md §1.4). Every problem is an error naming the file, the line and the reason:
a malformed line, a score that is not a finite number, a duplicate key, a key the data
dir does not know, a key of the data dir that has no score.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from avdf.data.datadir import DataDirError, read_trials


class ScoreFileError(ValueError):
    """A score file is malformed or does not match its keys; message ``file:line: reason``."""


_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.I)


def _parse_score(path: Path, n: int, tok: str) -> float:
    try:
        if not _NUMBER.fullmatch(tok):  # Python's float() also takes '1_000' and other spellings
            raise ValueError(tok)
        v = float(tok)
    except ValueError:
        raise ScoreFileError(f"{path}:{n}: score {tok!r} is not a number") from None
    if not math.isfinite(v):
        raise ScoreFileError(f"{path}:{n}: score {tok!r} is not finite")
    return v


def read_scores(path: str | os.PathLike, n_keys: int = 1) -> tuple[dict, dict]:
    """Read ``<key1> [<key2>] <score>`` lines: ``(key -> score, key -> line number)``.

    ``n_keys`` is 1 for utterance scores (key = utt) and 2 for trial scores
    (key = ``(enroll, test)``).
    """
    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: score file does not exist")
    scores: dict = {}
    lines: dict = {}
    want = "<utt> <score>" if n_keys == 1 else "<enroll> <test> <score>"
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ScoreFileError(f"{path}:{n}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})") from None
            fields = line.split()
            if len(fields) != n_keys + 1:
                raise ScoreFileError(f"{path}:{n}: expected {n_keys + 1} fields '{want}', "
                                     f"got {len(fields)}: {line.rstrip()!r}")
            key = fields[0] if n_keys == 1 else (fields[0], fields[1])
            if key in scores:
                raise ScoreFileError(f"{path}:{n}: duplicate key {' '.join(fields[:n_keys])!r} "
                                     f"(first on line {lines[key]})")
            scores[key] = _parse_score(path, n, fields[-1])
            lines[key] = n
    if not scores:
        raise ScoreFileError(f"{path}: score file is empty")
    return scores, lines


def read_organiser_asv_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the ASVspoof 2019 organisers' ``CM_KEY ASV_KEY SCORE`` file into
    ``{"target": ..., "nontarget": ..., "spoof": ...}`` score arrays."""
    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: ASV score file does not exist")
    out: dict[str, list[float]] = {"target": [], "nontarget": [], "spoof": []}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) != 3:
                raise ScoreFileError(f"{path}:{n}: expected 3 fields 'CM_KEY ASV_KEY SCORE', "
                                     f"got {len(fields)}: {line.rstrip()!r}")
            if fields[1] not in out:
                raise ScoreFileError(f"{path}:{n}: ASV key {fields[1]!r} is not target|nontarget|spoof")
            out[fields[1]].append(_parse_score(path, n, fields[2]))
    for key, values in out.items():
        if not values:
            raise ScoreFileError(f"{path}: no {key} trials")
    return {k: np.asarray(v) for k, v in out.items()}


def join_utt_scores(scores: Mapping[str, float], lines: Mapping[str, int], score_path,
                    utt2x: Mapping[str, str], utt2x_path) -> tuple[list[str], np.ndarray, list[str]]:
    """Match utterance scores with a key file (``utt2label``): ``(utts, scores, values)``.

    Every scored utterance must be in the key file and every key must have a score.
    """
    unknown = [u for u in scores if u not in utt2x]
    if unknown:
        raise ScoreFileError(f"{score_path}:{lines[unknown[0]]}: utterance {unknown[0]!r} is not in "
                             f"{utt2x_path} ({len(unknown)} unknown utterance(s) in all)")
    missing = [u for u in utt2x if u not in scores]
    if missing:
        raise ScoreFileError(f"{score_path}: no score for utterance {missing[0]!r} of {utt2x_path} "
                             f"({len(missing)} of {len(utt2x)} utterances have no score)")
    utts = list(utt2x)
    return utts, np.array([scores[u] for u in utts]), [utt2x[u] for u in utts]


def join_trial_scores(scores: Mapping[tuple, float], lines: Mapping[tuple, int], score_path,
                      trials_path) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """Match ``<enroll> <test> <score>`` lines with a Kaldi trials file: ``(trials, scores)``."""
    try:
        trials = read_trials(trials_path)
    except DataDirError as e:
        raise ScoreFileError(str(e)) from None
    seen: dict[tuple, int] = {}
    for n, (e, t, _) in enumerate(trials, 1):
        if (e, t) in seen:
            raise ScoreFileError(f"{trials_path}:{n}: duplicate trial '{e} {t}' (first on line {seen[(e, t)]})")
        seen[(e, t)] = n
    unknown = [k for k in scores if k not in seen]
    if unknown:
        raise ScoreFileError(f"{score_path}:{lines[unknown[0]]}: trial '{' '.join(unknown[0])}' is not in "
                             f"{trials_path} ({len(unknown)} unknown trial(s) in all)")
    missing = [k for k in seen if k not in scores]
    if missing:
        raise ScoreFileError(f"{score_path}: no score for trial '{' '.join(missing[0])}' "
                             f"(line {seen[missing[0]]} of {trials_path}; {len(missing)} of "
                             f"{len(trials)} trials have no score)")
    return trials, np.array([scores[(e, t)] for e, t, _ in trials])


def detect_n_keys(path: str | os.PathLike) -> int:
    """1 for an utterance score file (2 fields a line), 2 for a trial score file (3 fields)."""
    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: score file does not exist")
    with open(path, encoding="utf-8") as f:
        first = f.readline().split()
    if len(first) not in (2, 3):
        raise ScoreFileError(f"{path}:1: expected '<utt> <score>' or '<enroll> <test> <score>', "
                             f"got {len(first)} fields")
    return len(first) - 1


def read_score_matrix(paths: Sequence[str | os.PathLike]) -> tuple[list, np.ndarray, int, dict]:
    """Read K score files over the same keys: ``(keys, scores (N, K), n_keys, lines of file 1)``.

    Keys keep the order of the first file; every file must score exactly the same keys.
    """
    n_keys = detect_n_keys(paths[0])
    first, lines = read_scores(paths[0], n_keys)
    keys = list(first)
    columns = [np.array([first[k] for k in keys])]
    for path in paths[1:]:
        if detect_n_keys(path) != n_keys:
            raise ScoreFileError(f"{path}: has a different number of key columns than {paths[0]}")
        other, other_lines = read_scores(path, n_keys)
        extra = [k for k in other if k not in first]
        if extra:
            raise ScoreFileError(f"{path}:{other_lines[extra[0]]}: key {_key_str(extra[0])!r} is not in "
                                 f"{paths[0]} ({len(extra)} extra keys)")
        missing = [k for k in keys if k not in other]
        if missing:
            raise ScoreFileError(f"{path}: no score for key {_key_str(missing[0])!r} of {paths[0]} "
                                 f"(line {lines[missing[0]]}; {len(missing)} missing)")
        columns.append(np.array([other[k] for k in keys]))
    return keys, np.stack(columns, axis=1), n_keys, lines


def _key_str(key) -> str:
    return key if isinstance(key, str) else " ".join(key)
