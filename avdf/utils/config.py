"""YAML experiment configs with dotted command-line overrides.

A config is a nested dict with ``model:``, ``frontend:``, ``loss:``, ``optim:`` and
``data:`` sections (ARCHITECTURE.md). Any key can be overridden from the command line:

    --model.channels 512      --model.channels=512      model.channels=512

Values are parsed as YAML (``512`` -> int, ``true`` -> bool, ``[1,2]`` -> list). Overriding
a key that the config does not have is an error (a typo would otherwise be silently
ignored); prefix it with ``+`` to add a new key: ``--+model.extra 3``. A program may pass
its documented defaults (``defaults=``): their keys count as known, so ``--train.num_threads 1``
works on a config that leaves the trainer's default in place.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Sequence

import yaml

from avdf.utils.fileio import atomic_open


class ConfigError(ValueError):
    """A config file or an override is malformed."""


def parse_overrides(args: Sequence[str]) -> list[tuple[str, Any]]:
    """Turn ``['--a.b', '3', '--c=x', 'd.e=1']`` into ``[('a.b', 3), ('c', 'x'), ('d.e', 1)]``."""
    out: list[tuple[str, Any]] = []
    i = 0
    args = list(args)
    while i < len(args):
        arg = args[i]
        key = arg[2:] if arg.startswith("--") else arg
        if "=" in key:
            key, raw = key.split("=", 1)
            i += 1
        elif arg.startswith("--"):
            if i + 1 >= len(args):
                raise ConfigError(f"override {arg} has no value")
            raw = args[i + 1]
            i += 2
        else:
            raise ConfigError(f"cannot parse override {arg!r}: expected --key value or key=value")
        if not key or key.strip("+.") == "":
            raise ConfigError(f"override {arg!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {key}: value {raw!r} is not valid YAML: {e}") from e
        out.append((key, value))
    return out


def _has_key(tree: dict | None, parts: Sequence[str]) -> bool:
    """Whether the nested dict ``tree`` holds the key path ``parts``."""
    node: Any = tree or {}
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def apply_override(cfg: dict, dotted_key: str, value: Any, defaults: dict | None = None) -> None:
    """Set ``cfg[a][b][c] = value`` for ``a.b.c``; ``+a.b.c`` may create the last key, and so
    may a key that ``defaults`` (a nested dict of documented default values) holds."""
    parts = dotted_key.lstrip("+").split(".")
    create = dotted_key.startswith("+") or _has_key(defaults, parts)
    node = cfg
    for depth, part in enumerate(parts[:-1]):
        if part not in node:
            if not create:
                raise ConfigError(f"override {dotted_key}: config has no section "
                                  f"{'.'.join(parts[:depth + 1])!r} (write --+{dotted_key.lstrip('+')} VALUE to add it)")
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted_key}: {'.'.join(parts[:depth + 1])!r} is not a section")
    last = parts[-1]
    if last not in node and not create:
        known = ", ".join(sorted(node)) or "(none)"
        raise ConfigError(f"override {dotted_key}: unknown key {last!r}; known keys here: {known} "
                          f"(write --+{dotted_key.lstrip('+')} VALUE to add it)")
    node[last] = value


def load_config(path: str | os.PathLike | None, overrides: Sequence[str] = (), defaults: dict | None = None) -> dict:
    """Read a YAML config (or start empty) and apply command-line overrides; keys of
    ``defaults`` may be overridden without ``+`` (the defaults themselves are not merged in)."""
    cfg: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            with open(path, encoding="utf-8") as f:
                cfg = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
        if not isinstance(cfg, dict):
            raise ConfigError(f"{path}: the top level must be a mapping, got {type(cfg).__name__}")
    cfg = copy.deepcopy(cfg)
    for key, value in parse_overrides(overrides):
        apply_override(cfg, key, value, defaults)
    return cfg


def save_config(cfg: dict, path: str | os.PathLike) -> None:
    """Write the resolved config atomically, keys in their original order."""
    with atomic_open(path) as f:
        yaml.safe_dump(cfg, f, sort_keys=False, default_flow_style=False)


def get(cfg: dict, dotted_key: str, default: Any = None) -> Any:
    """``get(cfg, 'optim.lr', 1e-3)``: a nested lookup with a default."""
    node: Any = cfg
    for part in dotted_key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
