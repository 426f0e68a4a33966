"""``amplitude_experiment.exposure.exposure_config``."""

from .. import ExposureConfig

__all__ = ["ExposureConfig"]
