"""``amplitude_experiment.factory``."""

from . import Experiment

__all__ = ["Experiment"]
