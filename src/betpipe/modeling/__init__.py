"""Estimators with a scikit-learn surface, time-ordered validation, calibration and scoring against the market.

Public surface only; implementation lives in the submodules. Nothing here ever persists with pickle.
"""

from betpipe.modeling._base import (
    MODEL_CLASSES,
    BaseProbabilityModel,
    base_rates,
    get_model_class,
    labels_from_outcome,
)
from betpipe.modeling.bivariate_poisson import BivariatePoissonModel
from betpipe.modeling.blend import MarketBlendModel
from betpipe.modeling.calibration import CalibratedModel, Calibrator, LogLinearPool, choose_calibration
from betpipe.modeling.dixon_coles import DixonColesModel
from betpipe.modeling.elo_logit import EloLogitModel
from betpipe.modeling.evaluate import EvaluationReport, default_specs, evaluate, evaluate_frame, evaluation_rows
from betpipe.modeling.gbm import GradientBoostingModel
from betpipe.modeling.market import BaseRateModel, FeatureProbabilityModel, MarketModel, market_probabilities
from betpipe.modeling.market_implied import ImpliedGoals, fit_goal_expectations
from betpipe.modeling.metrics import (
    BootstrapCI,
    accuracy,
    bootstrap_mean_ci,
    brier,
    ece,
    log_loss,
    paired_bootstrap_ci,
    reliability_svg,
    reliability_table,
    rps,
)
from betpipe.modeling.report import format_markdown, reliability_markdown
from betpipe.modeling.score_grid import LineProbabilities, ScoreGrid, bivariate_poisson_grid, dixon_coles_grid
from betpipe.modeling.validation import Fold, out_of_fold_predict, season_folds
from betpipe.modeling.walkforward import ModelSpec, walk_forward_predict

__all__ = [
    "MODEL_CLASSES",
    "BaseProbabilityModel",
    "BaseRateModel",
    "BivariatePoissonModel",
    "BootstrapCI",
    "CalibratedModel",
    "Calibrator",
    "DixonColesModel",
    "EloLogitModel",
    "EvaluationReport",
    "FeatureProbabilityModel",
    "Fold",
    "GradientBoostingModel",
    "ImpliedGoals",
    "LineProbabilities",
    "LogLinearPool",
    "MarketBlendModel",
    "MarketModel",
    "ModelSpec",
    "ScoreGrid",
    "accuracy",
    "base_rates",
    "bivariate_poisson_grid",
    "bootstrap_mean_ci",
    "brier",
    "choose_calibration",
    "default_specs",
    "dixon_coles_grid",
    "ece",
    "evaluate",
    "evaluate_frame",
    "evaluation_rows",
    "fit_goal_expectations",
    "format_markdown",
    "get_model_class",
    "labels_from_outcome",
    "log_loss",
    "market_probabilities",
    "out_of_fold_predict",
    "paired_bootstrap_ci",
    "reliability_markdown",
    "reliability_svg",
    "reliability_table",
    "rps",
    "season_folds",
    "walk_forward_predict",
]
