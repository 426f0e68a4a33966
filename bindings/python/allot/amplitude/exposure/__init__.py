"""``amplitude_experiment.exposure``."""

from .. import ExposureConfig

__all__ = ["ExposureConfig"]
