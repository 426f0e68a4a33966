"""``amplitude_experiment.assignment``."""

from .. import DAY_MILLIS, AssignmentConfig

__all__ = ["DAY_MILLIS", "AssignmentConfig"]
