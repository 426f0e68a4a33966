"""``amplitude_experiment.server_zone``."""

from . import ServerZone

__all__ = ["ServerZone"]
