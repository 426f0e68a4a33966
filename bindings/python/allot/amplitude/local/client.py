"""``amplitude_experiment.local.client``."""

from .. import EvaluateOptions, LocalEvaluationClient, LocalEvaluationConfig, User, Variant

__all__ = ["EvaluateOptions", "LocalEvaluationClient", "LocalEvaluationConfig", "User", "Variant"]
