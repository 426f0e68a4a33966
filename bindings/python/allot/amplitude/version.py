"""``amplitude_experiment.version``."""

from . import __version__

__all__ = ["__version__"]
