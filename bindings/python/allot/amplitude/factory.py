"""``amplitude_experiment.factory``."""

from . import Experiment, LocalEvaluationClient, LocalEvaluationConfig, RemoteEvaluationClient, RemoteEvaluationConfig

__all__ = [
    "Experiment",
    "LocalEvaluationClient",
    "LocalEvaluationConfig",
    "RemoteEvaluationClient",
    "RemoteEvaluationConfig",
]
