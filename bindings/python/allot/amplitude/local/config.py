"""``amplitude_experiment.local.config``."""

from .. import (
    DEFAULT_COHORT_SYNC_URL,
    DEFAULT_SERVER_URL,
    DEFAULT_STREAM_URL,
    EU_COHORT_SYNC_URL,
    EU_SERVER_URL,
    EU_STREAM_SERVER_URL,
    AssignmentConfig,
    CohortSyncConfig,
    ExposureConfig,
    LocalEvaluationConfig,
    ServerZone,
)

__all__ = [
    "DEFAULT_COHORT_SYNC_URL",
    "DEFAULT_SERVER_URL",
    "DEFAULT_STREAM_URL",
    "EU_COHORT_SYNC_URL",
    "EU_SERVER_URL",
    "EU_STREAM_SERVER_URL",
    "AssignmentConfig",
    "CohortSyncConfig",
    "ExposureConfig",
    "LocalEvaluationConfig",
    "ServerZone",
]
