"""Tandem detection cost function (t-DCF) of a countermeasure (CM) gating a fixed ASV system.

Two variants, both minimised over the CM threshold with the ASV threshold held fixed:

``legacy`` — the ASVspoof 2019 challenge formula (evaluation plan v1.0; the 2019
  ``compute_tDCF``; the number in published 2019 LA tables, e.g. AASIST's 0.0275)::

      C1 = P_tar (C_miss_cm - C_miss_asv P_miss_asv) - P_non C_fa_asv P_fa_asv
      C2 = C_fa_cm P_spoof (1 - P_miss_spoof_asv)
      t-DCF(s) = C1 P_miss_cm(s) + C2 P_fa_cm(s)
      normalised by min(C1, C2), the cost of the better trivial CM (reject-all costs C1,
      accept-all, i.e. no CM, costs C2; with the 2019 LA costs C2 is the smaller).

``revised`` — Kinnunen et al., IEEE/ACM TASLP 2020, used by ASVspoof 2021 and later::

      C0 = P_tar C_miss P_miss_asv + P_non C_fa P_fa_asv
      C1 = P_tar C_miss - C0
      C2 = P_spoof C_fa_spoof P_fa_spoof_asv
      t-DCF(s) = C0 + C1 P_miss_cm(s) + C2 P_fa_cm(s)
      normalised by C0 + min(C1, C2), so the minimum is <= 1.

Cost model (ASVspoof 2019 LA, also used for 2021 LA): P_spoof 0.05, P_tar 0.95 x 0.99,
P_non 0.95 x 0.01, C_miss 1, C_fa 10, C_fa_spoof 10 (legacy: C_miss_cm = C_miss_asv =
C_miss, C_fa_asv = C_fa, C_fa_cm = C_fa_spoof).

ASV operating point: the ASV EER threshold of target vs nontarget scores, exactly as
the official packages (2019 and 2021) apply it: their ``compute_eer`` returns the score
of the highest-scoring trial rejected at the EER point and ``obtain_asv_error_rates``
then accepts scores >= that value, so that trial (and its ties) is accepted. avdf keeps
this rule so that its t-DCF equals the published one; on the organisers' 2019 LA eval
ASV scores it accepts one nontarget more than the EER point itself (P_fa_asv 2.4605 %
instead of 2.4575 %). Pass ``asv_threshold`` to use another ASV operating point.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from avdf.metrics.core import MetricError, as_scores, sweep

VARIANTS = ("legacy", "revised")


@dataclass(frozen=True)
class TDCFCostModel:
    """Priors and costs of the t-DCF (defaults: ASVspoof 2019 LA)."""
    p_spoof: float = 0.05
    p_tar: float = (1 - 0.05) * 0.99
    p_non: float = (1 - 0.05) * 0.01
    c_miss: float = 1.0
    c_fa: float = 10.0
    c_fa_spoof: float = 10.0

    def check(self) -> None:
        priors = (self.p_spoof, self.p_tar, self.p_non)
        if min(priors) < 0 or abs(sum(priors) - 1.0) > 1e-10:
            raise MetricError(f"t-DCF priors must be >= 0 and sum to 1, got {priors}")
        if min(self.c_miss, self.c_fa, self.c_fa_spoof) < 0:
            raise MetricError(f"t-DCF costs must be >= 0: {self}")


ASVSPOOF2019_LA = TDCFCostModel()


def official_asv_threshold(asv_target, asv_nontarget) -> float:
    """ASV threshold the ASVspoof packages use for t-DCF (see the module docstring).

    The EER operating point ``j`` of target vs nontarget; the threshold is the largest
    score value below the EER threshold (``-inf`` when the EER point accepts everything).
    """
    s = sweep(as_scores(asv_target, "ASV target scores"), as_scores(asv_nontarget, "ASV nontarget scores"))
    j = int(np.argmin(np.abs(s.miss_rate(0) - s.accept_rate(1))))
    return float(s.values[j - 1]) if j > 0 else -np.inf


def tdcf_details(bona_cm, spoof_cm, asv_target, asv_nontarget, asv_spoof, variant: str,
                 cost_model: TDCFCostModel = ASVSPOOF2019_LA,
                 asv_threshold: float | None = None) -> dict:
    """Minimum normalised t-DCF with everything needed to report it.

    Returns a dict: ``min_tdcf``, ``cm_threshold``, ``variant``, the ASV threshold and
    error rates (``asv_threshold``, ``p_miss_asv``, ``p_fa_asv``, ``p_fa_spoof_asv``),
    the constants ``C0`` (revised only), ``C1``, ``C2``, ``norm``, the cost model and the
    trial counts.
    """
    if variant not in VARIANTS:
        raise MetricError(f"unknown t-DCF variant {variant!r}; choose one of {VARIANTS}")
    cost_model.check()
    bona = as_scores(bona_cm, "bona fide CM scores")
    spoof = as_scores(spoof_cm, "spoof CM scores")
    tar = as_scores(asv_target, "ASV target scores")
    non = as_scores(asv_nontarget, "ASV nontarget scores")
    spf = as_scores(asv_spoof, "ASV spoof scores")
    if asv_threshold is None:
        asv_threshold = official_asv_threshold(tar, non)
    p_miss_asv = np.count_nonzero(tar < asv_threshold) / tar.size
    p_fa_asv = np.count_nonzero(non >= asv_threshold) / non.size
    p_fa_spoof_asv = np.count_nonzero(spf >= asv_threshold) / spf.size
    p_miss_spoof_asv = np.count_nonzero(spf < asv_threshold) / spf.size
    cm = cost_model
    out = {"variant": variant}
    if variant == "legacy":
        c0 = 0.0
        c1 = cm.p_tar * (cm.c_miss - cm.c_miss * p_miss_asv) - cm.p_non * cm.c_fa * p_fa_asv
        c2 = cm.c_fa_spoof * cm.p_spoof * (1.0 - p_miss_spoof_asv)
        norm = min(c1, c2)
    else:
        c0 = cm.p_tar * cm.c_miss * p_miss_asv + cm.p_non * cm.c_fa * p_fa_asv
        c1 = cm.p_tar * cm.c_miss - c0
        c2 = cm.p_spoof * cm.c_fa_spoof * p_fa_spoof_asv
        norm = c0 + min(c1, c2)
        out["C0"] = c0
    if c1 < 0 or c2 < 0:
        raise MetricError(f"t-DCF weights are negative (C1={c1}, C2={c2}): the ASV error rates "
                          "are implausible (is the ASV score direction right?)")
    if norm <= 0:
        raise MetricError(f"t-DCF normaliser is {norm}: the ASV system accepts no spoof "
                          f"(P_fa_spoof_asv={p_fa_spoof_asv}) or no target, so the CM cannot matter")
    s = sweep(bona, spoof)
    curve = (c0 + c1 * s.miss_rate(0) + c2 * s.accept_rate(1)) / norm
    j = int(np.argmin(curve))
    out.update(min_tdcf=float(curve[j]), cm_threshold=s.threshold(j),
               asv_threshold=float(asv_threshold), p_miss_asv=p_miss_asv, p_fa_asv=p_fa_asv,
               p_fa_spoof_asv=p_fa_spoof_asv, C1=c1, C2=c2, norm=norm,
               cost_model=asdict(cost_model),
               n_bonafide=int(bona.size), n_spoof=int(spoof.size), n_asv_target=int(tar.size),
               n_asv_nontarget=int(non.size), n_asv_spoof=int(spf.size))
    return out


def min_tdcf(bona_cm, spoof_cm, asv_target, asv_nontarget, asv_spoof, variant: str,
             cost_model: TDCFCostModel = ASVSPOOF2019_LA,
             asv_threshold: float | None = None) -> tuple[float, float]:
    """Minimum normalised t-DCF and the CM threshold reaching it: ``(min_tdcf, cm_threshold)``.

    ``variant`` is ``"legacy"`` (ASVspoof 2019) or ``"revised"`` (ASVspoof 2021+); see the
    module docstring for both formulas, the cost model and the ASV operating point.
    """
    d = tdcf_details(bona_cm, spoof_cm, asv_target, asv_nontarget, asv_spoof, variant,
                     cost_model, asv_threshold)
    return d["min_tdcf"], d["cm_threshold"]
