"""``eppo_client.version``: the package version (allot's)."""

from . import __version__

__all__ = ["__version__"]
