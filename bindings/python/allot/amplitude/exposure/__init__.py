"""``amplitude_experiment.exposure``."""

from .. import DAY_MILLIS, ExposureConfig

__all__ = ["DAY_MILLIS", "ExposureConfig"]
