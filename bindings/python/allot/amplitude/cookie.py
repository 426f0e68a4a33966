"""``amplitude_experiment.cookie``."""

from . import AmplitudeCookie

__all__ = ["AmplitudeCookie"]
