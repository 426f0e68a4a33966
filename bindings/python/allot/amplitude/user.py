"""``amplitude_experiment.user``."""

from . import User

__all__ = ["User"]
