"""``amplitude_experiment.local.evaluate_options``."""

from .. import EvaluateOptions

__all__ = ["EvaluateOptions"]
