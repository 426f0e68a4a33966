"""``amplitude_experiment.remote.config``."""

from .. import DEFAULT_SERVER_URL, RemoteEvaluationConfig, ServerZone
from .. import REMOTE_EU_SERVER_URL as EU_SERVER_URL

__all__ = ["DEFAULT_SERVER_URL", "EU_SERVER_URL", "RemoteEvaluationConfig", "ServerZone"]
