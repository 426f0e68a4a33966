"""``amplitude_experiment.cookie``."""

from . import AmplitudeCookie, User

__all__ = ["AmplitudeCookie", "User"]
