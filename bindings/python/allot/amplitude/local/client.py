"""``amplitude_experiment.local.client``."""

from .. import USER_GROUP_TYPE, EvaluateOptions, LocalEvaluationClient, LocalEvaluationConfig, User, Variant

__all__ = ["USER_GROUP_TYPE", "EvaluateOptions", "LocalEvaluationClient", "LocalEvaluationConfig", "User", "Variant"]
