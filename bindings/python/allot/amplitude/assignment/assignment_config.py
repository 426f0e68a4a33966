"""``amplitude_experiment.assignment.assignment_config``."""

from .. import AssignmentConfig

__all__ = ["AssignmentConfig"]
