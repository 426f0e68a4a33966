"""Client configuration (``eppo_client.config``)."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Set, Union

from .._settings import Settings
from .assignment_logger import AssignmentLogger

DEFAULT_BASE_URL = "https://fscdn.eppo.cloud/api"
#: Environment variable that replaces the default base URL (a staging or test server);
#: a ``base_url`` given in the configuration always wins.
BASE_URL_ENV = "ALLOT_EPPO_BASE_URL"


class Configuration:
    """A configuration given up front: ``flags_configuration`` is the JSON text (bytes or
    str) served by ``/flag-config/v1/config``, ``bandits_configuration`` the bandit models
    served by ``/flag-config/v1/bandits``."""

    def __init__(
        self,
        flags_configuration: Union[bytes, str],
        bandits_configuration: Union[bytes, str, None] = None,
    ) -> None:
        if isinstance(flags_configuration, bytes):
            flags_configuration = flags_configuration.decode("utf-8")
        if isinstance(bandits_configuration, bytes):
            bandits_configuration = bandits_configuration.decode("utf-8")
        self.flags_configuration: str = flags_configuration
        self.bandits_configuration: Optional[str] = bandits_configuration

    def get_flags_configuration(self) -> bytes:
        """The flags configuration's JSON text."""
        return self.flags_configuration.encode("utf-8")

    def get_bandits_configuration(self) -> Optional[bytes]:
        """The bandit models' JSON text, if given."""
        return None if self.bandits_configuration is None else self.bandits_configuration.encode("utf-8")

    def get_flag_keys(self) -> Set[str]:
        """The keys of the flags configuration's flags."""
        return set(json.loads(self.flags_configuration).get("flags", {}))

    def get_bandit_keys(self) -> Set[str]:
        """The keys of the bandit models given."""
        if self.bandits_configuration is None:
            return set()
        return set(json.loads(self.bandits_configuration).get("bandits", {}))


class Config(Settings):
    """The Eppo client configuration, with the SDK's names and defaults."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        assignment_logger: Optional[AssignmentLogger] = None,
        is_graceful_mode: bool = True,
        poll_interval_seconds: Optional[float] = 30,
        poll_jitter_seconds: float = 3,
        initial_configuration: Optional[Configuration] = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be a non-empty string")
        if assignment_logger is not None and not hasattr(assignment_logger, "log_assignment"):
            raise TypeError("assignment_logger must have a log_assignment(event) method")
        self.api_key = api_key
        self.base_url = base_url
        self.assignment_logger = assignment_logger
        self.is_graceful_mode = is_graceful_mode
        self.poll_interval_seconds = poll_interval_seconds
        self.poll_jitter_seconds = poll_jitter_seconds
        self.initial_configuration = initial_configuration

    def _to_json(self) -> Dict[str, Any]:
        # Only what the caller set is sent: the library owns every default.
        doc: Dict[str, Any] = {"provider": "eppo", "api_key": self.api_key}
        if self.given("base_url") and self.base_url is not None:
            doc["base_url"] = self.base_url
        elif os.environ.get(BASE_URL_ENV):
            doc["base_url"] = os.environ[BASE_URL_ENV]
        for name in ("poll_interval_seconds", "poll_jitter_seconds"):
            if self.given(name):
                doc[name] = getattr(self, name)
        if self.initial_configuration is not None:
            conf = self.initial_configuration
            text = conf.flags_configuration if isinstance(conf, Configuration) else conf
            if isinstance(text, (dict, list)):
                text = json.dumps(text)
            doc["initial_configuration"] = text
            bandits = getattr(conf, "bandits_configuration", None)
            if bandits is not None:
                doc["initial_bandits"] = bandits
        return doc

    def __repr__(self) -> str:
        return f"Config(api_key=<redacted>, base_url={self.base_url!r})"


#: The current SDK's name for the same configuration.
ClientConfig = Config
