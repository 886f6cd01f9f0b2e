"""avdf scoring: the one trusted place for EER, minDCF, actDCF, Cllr, t-DCF, a-DCF, AUC.

Scores are numpy arrays, higher = more bona fide / target / real; a trial is accepted
when its score is >= the threshold; operating points lie only between distinct score
values (ties are exact); rates are fractions, not percent. Each function's docstring
states its variant, cost model and normalisation.
"""
from avdf.metrics.core import MetricError
from avdf.metrics.detection import (act_dcf, auc, bayes_threshold, cllr, det_curve, eer, eer_rocch,
                                    min_dcf, roc_curve)
from avdf.metrics.sasv import ASVSPOOF5_SASV, ADCFCostModel, a_dcf, sasv_eer, spf_eer, sv_eer
from avdf.metrics.tdcf import ASVSPOOF2019_LA, TDCFCostModel, min_tdcf, tdcf_details

__all__ = [
    "MetricError", "eer", "eer_rocch", "min_dcf", "act_dcf", "bayes_threshold", "cllr", "auc",
    "roc_curve", "det_curve", "min_tdcf", "tdcf_details", "TDCFCostModel", "ASVSPOOF2019_LA",
    "a_dcf", "ADCFCostModel", "ASVSPOOF5_SASV", "sasv_eer", "sv_eer", "spf_eer",
]
