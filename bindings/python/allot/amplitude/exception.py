"""``amplitude_experiment.exception``."""

from . import CohortsDownloadException, CohortTooLargeException, FetchException, HTTPErrorResponseException

__all__ = ["CohortTooLargeException", "CohortsDownloadException", "FetchException", "HTTPErrorResponseException"]
