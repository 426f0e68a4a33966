"""``amplitude_experiment.remote.client``."""

from .. import FetchException, FetchOptions, RemoteEvaluationClient, RemoteEvaluationConfig, User, Variant, __version__

__all__ = [
    "FetchException",
    "FetchOptions",
    "RemoteEvaluationClient",
    "RemoteEvaluationConfig",
    "User",
    "Variant",
    "__version__",
]
