"""Import a published checkpoint as an avdf experiment dir that every stage reads.

    python -m avdf.bin.import_model --format clovaai_aasist \\
        --checkpoint AASIST.pth --config conf/aasist.yaml --out exp/aasist_clovaai \\
        [--source "clovaai/aasist models/weights/AASIST.pth"] [--trained_on "ASVspoof 2019 LA train"] \\
        [--license LICENSE] [--force] [--model.key value ...]

The checkpoint is read with ``torch.load(weights_only=True)`` (tensors only: a pickle that
holds anything else is refused, and never loaded unsafely), its keys are renamed from the
official layout to avdf's by the format's converter (``avdf.models.formats``), and the
result must fit the model that ``--config`` builds exactly: every key, every shape. When it
does not, one line names the missing, unexpected or mis-shaped keys and nothing is written.

The experiment dir holds what ``avdf.bin.train`` would leave for a trained model::

    config.yaml   model.pt ({"model": state dict, "config": ..., "imported": ...})
    import.json   MODEL.md   LICENSE (with --license)   .done

so ``infer_cm``, ``extract_embeddings``, ``infer_av`` and ``explain_av`` use it as they use a
model trained here. It is written to a temporary dir beside ``--out`` and renamed at the end.

Formats: see ``--help`` (the list is ``avdf.models.formats.FORMATS``).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from avdf.models.formats import FORMATS, CheckpointFormatError, get_converter
from avdf.train import checkpoint as ckpt
from avdf.train.checkpoint import CheckpointError
from avdf.utils.config import ConfigError, load_config, save_config
from avdf.utils.fileio import current_umask
from avdf.bin import run


def state_dict_of(obj: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: the dict itself, or the one under a usual wrapper key
    (``model``, ``state_dict``, ``model_state_dict``), without a DataParallel ``module.`` prefix."""
    for key in ("model", "state_dict", "model_state_dict"):
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: not a state dict: {len(bad)} entries are not tensors (first {bad[0]!r})")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def convert(fmt_name: str, checkpoint: Path, cfg: dict) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """The checkpoint's tensors in avdf's layout, checked against the config's model (which is
    returned with them loaded)."""
    from avdf.tasks import build_task

    fmt, converter = get_converter(fmt_name)
    model_name = (cfg.get("model") or {}).get("name")
    if model_name not in fmt.models:
        raise CheckpointFormatError(f"format {fmt_name} fills models {', '.join(fmt.models)}; "
                                    f"the config's model.name is {model_name!r}")
    official = state_dict_of(ckpt.load(checkpoint), checkpoint)
    try:
        state = converter(official, cfg["model"])
    except KeyError as e:
        raise CheckpointFormatError(f"{checkpoint}: not a {fmt_name} checkpoint: no key {e.args[0]!r}") from None
    model = build_task(cfg, {}).build_model()
    expected = model.state_dict()
    diff = ckpt.state_mismatch(state, expected)
    if diff:
        raise CheckpointFormatError(f"{checkpoint}: does not fit {fmt_name} / model {model_name}: {diff}")
    state = {k: v.to(expected[k].dtype).contiguous() for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return state, model


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_exp_dir(out: Path, cfg: dict, state: dict[str, torch.Tensor], info: dict[str, Any],
                  license_file: Path | None, force: bool) -> None:
    """Everything into a temporary dir beside ``out``, then one rename."""
    if out.exists() and not force:
        raise FileExistsError(f"{out}: exists; remove it or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        save_config(cfg, tmp / "config.yaml")
        torch.save({"model": state, "config": cfg, "imported": info}, tmp / "model.pt")
        with open(tmp / "import.json", "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
            f.write("\n")
        if license_file is not None:
            shutil.copyfile(license_file, tmp / "LICENSE")
        with open(tmp / "MODEL.md", "w", encoding="utf-8") as f:
            f.write(model_card(cfg, info, license_file is not None))
        (tmp / ".done").touch()
        for p in tmp.iterdir():
            os.chmod(p, 0o666 & ~current_umask())
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def model_card(cfg: dict, info: dict[str, Any], has_license: bool) -> str:
    lines = [f"# {info['model']} imported from {info['format']}", "",
             "| | |", "|---|---|",
             f"| task | {cfg.get('task', '?')} |",
             f"| model | `{info['model']}` ({info['params']:,} parameters) |",
             f"| source | {info.get('source') or info['checkpoint']} |",
             f"| trained on | {info.get('trained_on') or 'not stated'} |",
             f"| checkpoint sha256 | `{info['sha256']}` |",
             f"| imported | {info['date']} with `python -m avdf.bin.import_model --format {info['format']}` |",
             f"| licence | {'LICENSE in this dir' if has_license else 'not given'} |", ""]
    if cfg.get("task") == "cm":
        lines += ["Scores (`avdf.bin.infer_cm`): bona fide minus spoof logit, higher = bona fide; "
                  "no calibration, so 0 is not a calibrated threshold.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="formats:\n" + "\n".join(f"  {k}: models {', '.join(f.models)}; from {f.source}"
                                        for k, f in FORMATS.items()))
    parser.add_argument("--format", required=True, help="the checkpoint's layout (listed below)")
    parser.add_argument("--checkpoint", required=True, type=Path, help="the published checkpoint file")
    parser.add_argument("--config", required=True, type=Path, help="avdf config whose model the checkpoint fills")
    parser.add_argument("--out", required=True, type=Path, help="experiment dir to write")
    parser.add_argument("--source", default="", help="where the checkpoint comes from (goes to MODEL.md)")
    parser.add_argument("--trained_on", default="", help="what it was trained on (goes to MODEL.md)")
    parser.add_argument("--license", type=Path, help="licence file to copy into the dir as LICENSE")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args, overrides = parser.parse_known_args(argv)
    try:
        if args.license is not None and not args.license.is_file():
            raise FileNotFoundError(f"{args.license}: no such licence file")
        cfg = load_config(args.config, overrides)
        state, model = convert(args.format, args.checkpoint, cfg)
        info = {"format": args.format, "model": cfg["model"]["name"], "checkpoint": args.checkpoint.name,
                "sha256": sha256(args.checkpoint), "source": args.source, "trained_on": args.trained_on,
                "params": sum(p.numel() for p in model.parameters()),
                "date": datetime.date.today().isoformat()}
        write_exp_dir(args.out, cfg, state, info, args.license, args.force)
    except (CheckpointError, CheckpointFormatError, ConfigError, FileExistsError, FileNotFoundError) as e:
        print(f"import_model: {e}", file=sys.stderr)
        return 1
    print(f"import_model: {args.out}: {info['model']} from {args.checkpoint} ({args.format}, {info['params']:,} params)")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "import_model"))
