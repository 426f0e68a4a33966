"""``amplitude_experiment.variant``."""

from . import Variant

__all__ = ["Variant"]
