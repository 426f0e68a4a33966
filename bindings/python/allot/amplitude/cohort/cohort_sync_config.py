"""``amplitude_experiment.cohort.cohort_sync_config``."""

from .. import DEFAULT_COHORT_SYNC_URL, EU_COHORT_SYNC_URL, CohortSyncConfig

__all__ = ["DEFAULT_COHORT_SYNC_URL", "EU_COHORT_SYNC_URL", "CohortSyncConfig"]
