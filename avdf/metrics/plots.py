"""DET curve, ROC curve and score histograms as PNG files (matplotlib, Agg backend)."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from avdf import metrics as M  # noqa: E402
from avdf.utils.fileio import atomic_path  # noqa: E402

_DET_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9]


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, title: str) -> None:
    """DET curves (P_miss vs P_fa on normal-deviate axes), one per ``name -> (pos, neg)``, EER marked."""
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    lo = 5e-4
    for name, (pos, neg) in curves.items():
        p_miss, p_fa, _ = M.det_curve(pos, neg)
        ax.plot(norm.ppf(np.clip(p_fa, lo, 1 - lo)), norm.ppf(np.clip(p_miss, lo, 1 - lo)), label=name)
        e = M.eer(pos, neg)[0]
        ax.plot(norm.ppf(max(e, lo)), norm.ppf(max(e, lo)), "o", color=ax.lines[-1].get_color(),
                label=f"EER {100 * e:.2f} %")
    ticks = norm.ppf(_DET_TICKS)
    labels = [f"{100 * t:g}" for t in _DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    lim = norm.ppf([lo, 0.95])
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.plot(lim, lim, ":", color="grey", lw=0.8)
    ax.set_xlabel("false acceptance rate (%)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    _save(fig, Path(path))


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, title: str) -> None:
    """ROC curves (TPR vs FPR), one per ``name -> (pos, neg)``, with AUC in the legend."""
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for name, (pos, neg) in curves.items():
        fpr, tpr, _ = M.roc_curve(pos, neg)
        ax.plot(fpr, tpr, label=f"{name} (AUC {M.auc(pos, neg):.4f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, Path(path))


def plot_histograms(classes: dict[str, np.ndarray], path: str | os.PathLike, title: str,
                    thresholds: dict[str, float] | None = None) -> None:
    """Overlaid normalised score histograms per class, dashed lines at ``thresholds``.

    The axis spans the 0.1-99.9 percentiles of all scores; outliers pile up in the end bins.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    lo, hi = np.percentile(np.concatenate(list(classes.values())), [0.1, 99.9])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 80)
    for name, v in classes.items():
        ax.hist(np.clip(v, lo, hi), bins=bins, density=True, alpha=0.5, label=f"{name} (n={v.size})")
    styles = iter(["--", ":", "-.", (0, (5, 1))])
    for name, t in (thresholds or {}).items():
        if np.isfinite(t):
            ax.axvline(t, color="black", ls=next(styles, "--"), lw=1, label=f"{name} threshold {t:.4g}")
    ax.set_xlabel("score (higher = bona fide / target / real; 0.1-99.9 percentile range)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, Path(path))
