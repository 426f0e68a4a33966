"""``amplitude_experiment.assignment``."""

from .. import AssignmentConfig

__all__ = ["AssignmentConfig"]
