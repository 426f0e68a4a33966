"""``amplitude_experiment.remote.fetch_options``."""

from .. import FetchOptions

__all__ = ["FetchOptions"]
