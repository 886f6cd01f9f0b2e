"""Spoofing-aware speaker verification (SASV): one score per trial of a joint CM+ASV system.

Trials are ``target`` (bona fide, same speaker: accept), ``nontarget`` (bona fide, other
speaker: reject) and ``spoof`` (spoofed claim of the target speaker: reject).

- SASV-EER: target vs nontarget and spoof pooled; SV-EER: target vs nontarget;
  SPF-EER: target vs spoof (SASV 2022 challenge). Same EER convention as
  :func:`avdf.metrics.eer`.
- a-DCF (Shim et al., "a-DCF: an architecture agnostic metric with application to
  spoofing-robust speaker verification", Odyssey 2024)::

      a-DCF(t) = C_miss P_tar P_miss(t) + C_fa_asv P_non P_fa_non(t) + C_fa_cm P_spoof P_fa_spoof(t)

  normalised by ``min(C_fa_asv P_non + C_fa_cm P_spoof, C_miss P_tar)`` (accept-all vs
  reject-all) and minimised over the threshold. Default cost model: ASVspoof 5 track 2,
  P_tar 0.9, P_non 0.05, P_spoof 0.05, C_miss 1, C_fa_asv 10, C_fa_cm 20.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from avdf.metrics.core import MetricError, as_scores, sweep
from avdf.metrics.detection import eer


@dataclass(frozen=True)
class ADCFCostModel:
    """Priors and costs of the a-DCF (defaults: ASVspoof 5 track 2)."""
    p_tar: float = 0.9
    p_non: float = 0.05
    p_spoof: float = 0.05
    c_miss: float = 1.0
    c_fa_asv: float = 10.0
    c_fa_cm: float = 20.0


ASVSPOOF5_SASV = ADCFCostModel()


def a_dcf(target_scores, nontarget_scores, spoof_scores,
          cost_model: ADCFCostModel = ASVSPOOF5_SASV) -> tuple[float, float]:
    """Minimum normalised architecture-agnostic DCF: ``(min_a_dcf, threshold)``."""
    cm = cost_model
    priors = (cm.p_tar, cm.p_non, cm.p_spoof)
    if min(priors) < 0 or abs(sum(priors) - 1.0) > 1e-10:
        raise MetricError(f"a-DCF priors must be >= 0 and sum to 1, got {asdict(cm)}")
    s = sweep(as_scores(target_scores, "target scores"), as_scores(nontarget_scores, "nontarget scores"),
              as_scores(spoof_scores, "spoof scores"))
    cost = (cm.c_miss * cm.p_tar * s.miss_rate(0) + cm.c_fa_asv * cm.p_non * s.accept_rate(1)
            + cm.c_fa_cm * cm.p_spoof * s.accept_rate(2))
    norm = min(cm.c_fa_asv * cm.p_non + cm.c_fa_cm * cm.p_spoof, cm.c_miss * cm.p_tar)
    if norm <= 0:
        raise MetricError(f"a-DCF normaliser is {norm}: check the cost model {asdict(cm)}")
    j = int(np.argmin(cost))
    return float(cost[j] / norm), s.threshold(j)


def sasv_eer(target_scores, nontarget_scores, spoof_scores) -> tuple[float, float]:
    """EER of target vs nontarget and spoof pooled: ``(eer, threshold)``."""
    non = as_scores(nontarget_scores, "nontarget scores")
    spf = as_scores(spoof_scores, "spoof scores")
    return eer(target_scores, np.concatenate([non, spf]))


def sv_eer(target_scores, nontarget_scores) -> tuple[float, float]:
    """EER of target vs (bona fide) nontarget trials: ``(eer, threshold)``."""
    return eer(target_scores, nontarget_scores)


def spf_eer(target_scores, spoof_scores) -> tuple[float, float]:
    """EER of target vs spoof trials: ``(eer, threshold)``."""
    return eer(target_scores, as_scores(spoof_scores, "spoof scores"))
