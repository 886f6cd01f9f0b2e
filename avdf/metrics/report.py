"""The metrics each task reports, with their definitions, counts and optional bootstrap CIs.

A report is a JSON-ready dict: ``task``, ``name``, ``convention``, ``counts``,
``metrics`` (id -> ``{"value", "definition", ...}``), ``breakdowns`` (per attack /
method / category tables) and ``ci95`` when bootstrapped. :func:`to_markdown` and
:func:`to_text` render it. Every metric entry states its variant, cost model and
normalisation, so a number is never separated from what it means.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from avdf import metrics as M
from avdf.metrics.tdcf import VARIANTS, official_asv_threshold

log = logging.getLogger(__name__)

CONVENTION = ("higher score = bona fide / target / real; a trial is accepted when score >= threshold; "
              "thresholds lie between distinct score values (ties exact); rates are fractions")
EER_DEF = "ASVspoof EER: operating point with the smallest |P_miss - P_fa|, mean of the two"
DCF_NORM = "normalised by min(c_miss*p_target, c_fa*(1-p_target)) (Kaldi compute_min_dcf.py)"
ASVSPOOF5_DCF = {"p_target (bona fide)": 0.95, "c_miss": 1.0, "c_fa": 10.0}
TDCF_DEFS = {
    "legacy": "ASVspoof 2019 t-DCF (evaluation plan v1 / 2019 compute_tDCF): C1*Pmiss_cm + C2*Pfa_cm, "
              "normalised by min(C1, C2)",
    "revised": "ASVspoof 2021 t-DCF (Kinnunen et al. TASLP 2020): C0 + C1*Pmiss_cm + C2*Pfa_cm, "
               "normalised by C0 + min(C1, C2)",
}
ADCF_DEF = ("a-DCF (Shim et al., Odyssey 2024), ASVspoof 5 track 2 cost model, normalised by "
            "min(accept-all, reject-all) cost")


def _entry(value: float, definition: str, **extra) -> dict:
    return {"value": float(value), "definition": definition, **extra}


def _eer_entry(pos, neg) -> dict:
    e, thr = M.eer(pos, neg)
    return _entry(e, EER_DEF, threshold=thr)


def _min_dcf_entry(pos, neg, p_target, c_miss, c_fa, what: str) -> dict:
    v, thr = M.min_dcf(pos, neg, p_target, c_miss, c_fa)
    return _entry(v, f"min DCF, {what}, {DCF_NORM}", threshold=thr,
                  cost_model={"p_target": p_target, "c_miss": c_miss, "c_fa": c_fa})


def _llr_entries(pos, neg, p_target, c_miss, c_fa) -> dict:
    return {
        "act_dcf": _entry(M.act_dcf(pos, neg, p_target, c_miss, c_fa),
                          f"actual DCF of the scores read as natural-log LLRs at the Bayes threshold "
                          f"{M.bayes_threshold(p_target, c_miss, c_fa):.6g}, {DCF_NORM}",
                          cost_model={"p_target": p_target, "c_miss": c_miss, "c_fa": c_fa}),
        "cllr": _entry(M.cllr(pos, neg), "Cllr in bits of the scores read as natural-log LLRs"),
    }


def _by_group(pos: np.ndarray, neg: np.ndarray, neg_groups: np.ndarray, metric: Callable,
              name: str) -> dict:
    """One row per negative-class group: the positive class pooled vs that group."""
    rows = []
    for g in sorted(set(neg_groups.tolist())):
        sel = neg[neg_groups == g]
        rows.append({name: g, "n_positive": int(pos.size), "n_negative": int(sel.size),
                     "value": float(metric(pos, sel))})
    return {"key": name, "rows": rows}


def cm_report(scores: np.ndarray, labels: Sequence[str], attacks: Sequence[str] | None = None,
              categories: Sequence[str] | None = None, asv: dict | None = None,
              asv_source: str | None = None, llr: bool = False) -> dict:
    """Countermeasure: EER, ASVspoof 5 minDCF, min t-DCF (legacy and revised) when ``asv``
    scores (``{"target", "nontarget", "spoof"}``) are given, per-attack / per-category EER."""
    labels_arr = np.asarray(labels)
    bona, spoof = scores[labels_arr == "bonafide"], scores[labels_arr == "spoof"]
    rep = _new("cm", {"bonafide": bona.size, "spoof": spoof.size})
    m = rep["metrics"]
    m["eer"] = _eer_entry(bona, spoof)
    m["min_dcf_asvspoof5"] = _min_dcf_entry(bona, spoof, 0.95, 1.0, 10.0,
                                            "ASVspoof 5 track 1 (bona fide = target, p=0.95, c_miss=1, c_fa=10)")
    if llr:
        m.update(_llr_entries(bona, spoof, 0.95, 1.0, 10.0))
    if asv is not None:
        for variant in VARIANTS:
            d = M.tdcf_details(bona, spoof, asv["target"], asv["nontarget"], asv["spoof"], variant)
            value = d.pop("min_tdcf")
            m[f"min_tdcf_{variant}"] = _entry(value, TDCF_DEFS[variant], threshold=d.pop("cm_threshold"),
                                              asv_scores=asv_source, **d)
        rep["counts"].update({f"asv_{k}": int(v.size) for k, v in asv.items()})
    if attacks is not None:
        att = np.asarray(attacks)[labels_arr == "spoof"]
        rep["breakdowns"]["eer_per_attack"] = _by_group(bona, spoof, att, lambda p, n: M.eer(p, n)[0], "attack")
    if categories is not None:
        cat = np.asarray(categories)[labels_arr == "spoof"]
        rep["breakdowns"]["eer_per_category"] = _by_group(bona, spoof, cat, lambda p, n: M.eer(p, n)[0],
                                                          "category")
    return rep


def av_report(scores: np.ndarray, labels: Sequence[str], attacks: Sequence[str] | None = None,
              categories: Sequence[str] | None = None) -> dict:
    """Audio-visual deepfake detection: AUC, EER, accuracy at 0.5 and at the EER threshold,
    per-method / per-category AUC (all real vs that fake type)."""
    labels_arr = np.asarray(labels)
    real, fake = scores[labels_arr == "bonafide"], scores[labels_arr == "spoof"]
    rep = _new("av", {"real": real.size, "fake": fake.size})
    m = rep["metrics"]
    m["auc"] = _entry(M.auc(real, fake), "ROC AUC, real = positive; ties count 1/2 (scikit-learn roc_auc_score)")
    m["eer"] = _eer_entry(real, fake)
    if scores.min() >= 0.0 and scores.max() <= 1.0:
        acc = (np.count_nonzero(real >= 0.5) + np.count_nonzero(fake < 0.5)) / scores.size
        m["accuracy_at_0.5"] = _entry(acc, "accuracy with scores read as P(real), real when score >= 0.5",
                                      threshold=0.5)
    else:
        log.info("scores are not in [0, 1]: accuracy at 0.5 is not reported")
    thr = m["eer"]["threshold"]
    acc = (np.count_nonzero(real >= thr) + np.count_nonzero(fake < thr)) / scores.size
    m["accuracy_at_eer_threshold"] = _entry(acc, "accuracy at the EER threshold (real when score >= it)",
                                            threshold=thr)
    if attacks is not None:
        att = np.asarray(attacks)[labels_arr == "spoof"]
        rep["breakdowns"]["auc_per_method"] = _by_group(real, fake, att, M.auc, "method")
    if categories is not None:
        cat = np.asarray(categories)[labels_arr == "spoof"]
        rep["breakdowns"]["auc_per_category"] = _by_group(real, fake, cat, M.auc, "category")
    return rep


def asv_report(target: np.ndarray, nontarget: np.ndarray, p_targets: Sequence[float] = (0.01, 0.001),
               c_miss: float = 1.0, c_fa: float = 1.0, llr: bool = False, n_spoof_ignored: int = 0) -> dict:
    """Speaker verification: EER and minDCF at each ``p_target``."""
    rep = _new("asv", {"target": target.size, "nontarget": nontarget.size})
    if n_spoof_ignored:
        rep["counts"]["spoof_ignored"] = int(n_spoof_ignored)
    m = rep["metrics"]
    m["eer"] = _eer_entry(target, nontarget)
    for p in p_targets:
        m[f"min_dcf_p{p:g}"] = _min_dcf_entry(target, nontarget, p, c_miss, c_fa,
                                              f"p_target={p:g}, c_miss={c_miss:g}, c_fa={c_fa:g}")
    if llr:
        m.update(_llr_entries(target, nontarget, p_targets[0], c_miss, c_fa))
    return rep


def sasv_report(target: np.ndarray, nontarget: np.ndarray, spoof: np.ndarray,
                spoof_attacks: Sequence[str] | None = None) -> dict:
    """Spoofing-aware SV: SASV-, SV-, SPF-EER and a-DCF; per-attack SPF-EER."""
    rep = _new("sasv", {"target": target.size, "nontarget": nontarget.size, "spoof": spoof.size})
    m = rep["metrics"]
    for key, (value, thr), what in (
            ("sasv_eer", M.sasv_eer(target, nontarget, spoof), "target vs nontarget+spoof"),
            ("sv_eer", M.sv_eer(target, nontarget), "target vs nontarget"),
            ("spf_eer", M.spf_eer(target, spoof), "target vs spoof")):
        m[key] = _entry(value, f"{EER_DEF}; {what}", threshold=thr)
    v, thr = M.a_dcf(target, nontarget, spoof)
    m["a_dcf"] = _entry(v, ADCF_DEF, threshold=thr, cost_model=asdict(M.ASVSPOOF5_SASV))
    if spoof_attacks is not None:
        rep["breakdowns"]["spf_eer_per_attack"] = _by_group(target, spoof, np.asarray(spoof_attacks),
                                                            lambda p, n: M.eer(p, n)[0], "attack")
    return rep


def _new(task: str, counts: dict) -> dict:
    empty = [k for k, v in counts.items() if v == 0]
    if empty:
        raise M.MetricError(f"--task {task}: no {' and no '.join(empty)} trials among the scored keys "
                            f"(counts {counts}); every class needs at least one trial")
    return {"task": task, "convention": CONVENTION, "counts": {k: int(v) for k, v in counts.items()},
            "metrics": {}, "breakdowns": {}}


# ---------------------------------------------------------------- bootstrap
def bootstrap(classes: Sequence[np.ndarray], fn: Callable[..., dict], n: int, seed: int) -> dict:
    """Percentile 95 % intervals of ``fn(*classes)`` (a dict of scalars) over ``n`` resamplings.

    Trials are resampled with replacement within each class (class sizes stay fixed).
    """
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in tqdm(range(n), desc="bootstrap", disable=n < 20):
        sample = [c[rng.integers(0, c.size, c.size)] for c in classes]
        for k, v in fn(*sample).items():
            draws.setdefault(k, []).append(v)
    return {k: {"low": float(np.percentile(v, 2.5)), "high": float(np.percentile(v, 97.5)),
                "n_resamples": n, "seed": seed, "method": "percentile, trials resampled within each class"}
            for k, v in draws.items()}


def bootstrap_fn(rep: dict, asv: dict | None = None, p_targets: Sequence[float] = (0.01, 0.001),
                 c_miss: float = 1.0, c_fa: float = 1.0) -> Callable[..., dict]:
    """The scalar metrics of ``rep`` as a function of its class arrays (for :func:`bootstrap`).

    For t-DCF only the CM trials are resampled; the ASV scores (and threshold) stay fixed.
    """
    task = rep["task"]
    if task == "cm":
        asv_thr = official_asv_threshold(asv["target"], asv["nontarget"]) if asv else None

        def fn(bona, spoof):
            out = {"eer": M.eer(bona, spoof)[0], "min_dcf_asvspoof5": M.min_dcf(bona, spoof, 0.95, 1, 10)[0]}
            if asv:
                for variant in VARIANTS:
                    out[f"min_tdcf_{variant}"] = M.min_tdcf(bona, spoof, asv["target"], asv["nontarget"],
                                                            asv["spoof"], variant, asv_threshold=asv_thr)[0]
            return out
    elif task == "av":
        def fn(real, fake):
            return {"auc": M.auc(real, fake), "eer": M.eer(real, fake)[0]}
    elif task == "asv":
        def fn(tar, non):
            out = {"eer": M.eer(tar, non)[0]}
            out.update({f"min_dcf_p{p:g}": M.min_dcf(tar, non, p, c_miss, c_fa)[0] for p in p_targets})
            return out
    else:
        def fn(tar, non, spf):
            return {"sasv_eer": M.sasv_eer(tar, non, spf)[0], "sv_eer": M.sv_eer(tar, non)[0],
                    "spf_eer": M.spf_eer(tar, spf)[0], "a_dcf": M.a_dcf(tar, non, spf)[0]}
    return fn


# ---------------------------------------------------------------- rendering
_PERCENT = ("eer", "accuracy")


def _fmt(metric: str, value: float) -> str:
    """EERs and accuracies in percent (3 decimals), costs and AUC with 4 decimals."""
    if any(metric.startswith(p) or f"_{p}" in metric for p in _PERCENT):
        return f"{100 * value:.3f} %"
    return f"{value:.4f}"


def _rows(rep: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for k, e in rep["metrics"].items():
        ci = rep.get("ci95", {}).get(k)
        ci_s = f"[{_fmt(k, ci['low'])}, {_fmt(k, ci['high'])}]" if ci else ""
        rows.append((k, _fmt(k, e["value"]), ci_s, e["definition"]))
    return rows


def _breakdown_metric(name: str) -> str:
    return name.split("_per_")[0]


def to_text(rep: dict) -> str:
    """A plain table for the terminal."""
    head = f"{rep.get('name') or rep['task']}  ({rep['task']}; " + \
        ", ".join(f"{k} {v}" for k, v in rep["counts"].items()) + ")"
    rows = _rows(rep)
    w = max(len(r[0]) for r in rows)
    lines = [head] + [f"  {k:<{w}}  {v:>10}  {ci}".rstrip() for k, v, ci, _ in rows]
    for name, table in rep["breakdowns"].items():
        metric = _breakdown_metric(name)
        lines.append(f"  {name}:")
        for r in table["rows"]:
            lines.append(f"    {r[table['key']]:<20} {_fmt(metric, r['value']):>10}  (n={r['n_negative']})")
    return "\n".join(lines)


def to_markdown(rep: dict) -> str:
    """A Markdown block for RESULTS.md: metrics with definitions, counts, breakdowns, command."""
    title = rep.get("name") or rep["task"]
    out = [f"### {title}", ""]
    if rep.get("command"):
        out += [f"Command: `{rep['command']}`", ""]
    out += [f"Task `{rep['task']}`; trials: " + ", ".join(f"{k} {v}" for k, v in rep["counts"].items())
            + f". Convention: {rep['convention']}.", ""]
    has_ci = "ci95" in rep
    out.append("| metric | value |" + (" 95 % CI |" if has_ci else "") + " definition |")
    out.append("|---|---|" + ("---|" if has_ci else "") + "---|")
    for k, v, ci, d in _rows(rep):
        extra = rep["metrics"][k]
        if "cost_model" in extra:
            d += "; cost model " + ", ".join(f"{a}={b:g}" for a, b in extra["cost_model"].items())
        if extra.get("asv_scores"):
            d += (f"; ASV scores {extra['asv_scores']}, ASV threshold {extra['asv_threshold']:.6g} "
                  f"(P_miss_asv {extra['p_miss_asv']:.6f}, P_fa_asv {extra['p_fa_asv']:.6f}, "
                  f"P_fa_spoof_asv {extra['p_fa_spoof_asv']:.6f})")
        d = d.replace("|", "\\|")  # a bare | would end the table cell
        out.append(f"| {k} | {v} |" + (f" {ci} |" if has_ci else "") + f" {d} |")
    if has_ci:
        any_ci = next(iter(rep["ci95"].values()))
        out += ["", f"95 % CIs: {any_ci['method']}, {any_ci['n_resamples']} resamples, seed {any_ci['seed']}."]
    for name, table in rep["breakdowns"].items():
        metric = _breakdown_metric(name)
        key = table["key"]
        out += ["", f"{name.replace('_', ' ')}:", "", f"| {key} | n | {metric} |", "|---|---|---|"]
        out += [f"| {r[key]} | {r['n_negative']} | {_fmt(metric, r['value'])} |" for r in table["rows"]]
    return "\n".join(out) + "\n"
