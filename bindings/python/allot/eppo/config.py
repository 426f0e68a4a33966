"""Client configuration (``eppo_client.config``)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, Optional, Set, Union

from .._settings import Settings
from .assignment_logger import AssignmentLogger

DEFAULT_BASE_URL = "https://fscdn.eppo.cloud/api"
#: Environment variable that replaces the default base URL (a staging or test server);
#: a ``base_url`` given in the configuration always wins.
BASE_URL_ENV = "ALLOT_EPPO_BASE_URL"


class Configuration:
    """A Universal Flag Configuration: ``flags_configuration`` is the JSON text (bytes or
    str) served by ``/flag-config/v1/config``, ``bandits_configuration`` the bandit models
    served by ``/flag-config/v1/bandits``. Raises ``ValueError`` when the flags are not a
    flags configuration."""

    def __init__(
        self, *, flags_configuration: Union[bytes, str], bandits_configuration: Union[bytes, str, None] = None
    ) -> None:
        if isinstance(flags_configuration, str):
            flags_configuration = flags_configuration.encode("utf-8")
        if isinstance(bandits_configuration, str):
            bandits_configuration = bandits_configuration.encode("utf-8")
        try:
            doc = json.loads(flags_configuration)
            flags = doc["flags"]
            if not isinstance(flags, dict):
                raise TypeError("flags is not an object")
        except (ValueError, KeyError, TypeError) as e:
            logging.getLogger("eppo").warning(f"failed to compile flag configuration: {e}")
            raise ValueError(f"argument 'flags_configuration': not a flags configuration ({e})") from None
        self._flags: bytes = flags_configuration
        self._bandits: Optional[bytes] = bandits_configuration
        self._flag_keys: Set[str] = set(flags)

    @property
    def flags_configuration(self) -> str:
        """The configuration's JSON text."""
        return self._flags.decode("utf-8")

    def get_flags_configuration(self) -> Optional[bytes]:
        """The flags configuration (JSON bytes)."""
        return self._flags

    def get_bandits_configuration(self) -> Optional[bytes]:
        """The bandits configuration given, if any."""
        return self._bandits

    def get_flag_keys(self) -> Set[str]:
        """The keys of the configuration's flags."""
        return set(self._flag_keys)

    def get_bandit_keys(self) -> Set[str]:
        """The keys of the configuration's bandits."""
        if not self._bandits:
            return set()
        return set(json.loads(self._bandits).get("bandits", {}))


class ClientConfig(Settings):
    """The Eppo client configuration, with the SDK's names and defaults (every argument
    after ``api_key`` by keyword)."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        assignment_logger: Optional[AssignmentLogger] = None,
        is_graceful_mode: bool = True,
        poll_interval_seconds: Optional[int] = 30,
        poll_jitter_seconds: int = 3,
        initial_configuration: Optional[Configuration] = None,
    ) -> None:
        if not api_key:
            raise ValueError("Invalid value for api_key: cannot be blank")
        if assignment_logger is not None and not hasattr(assignment_logger, "log_assignment"):
            raise TypeError(
                f"argument 'assignment_logger': '{type(assignment_logger).__name__}' object cannot be cast as "
                "'AssignmentLogger'"
            )
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
            doc["initial_configuration"] = _flags_text(self.initial_configuration)
            bandits = _bandits_text(self.initial_configuration)
            if bandits is not None:
                doc["initial_bandits"] = bandits
        return doc

    def __repr__(self) -> str:
        return f"ClientConfig(api_key=<redacted>, base_url={self.base_url!r})"


def _flags_text(conf: Any) -> str:
    if isinstance(conf, Configuration):
        return conf.flags_configuration
    if isinstance(conf, (dict, list)):
        return json.dumps(conf)
    return conf.decode("utf-8") if isinstance(conf, bytes) else str(conf)


def _bandits_text(conf: Any) -> Optional[str]:
    bandits = conf.get_bandits_configuration() if isinstance(conf, Configuration) else None
    if isinstance(bandits, bytes):
        return bandits.decode("utf-8")
    return bandits


#: The name ``eppo_client.config`` gives the configuration.
Config = ClientConfig

__all__ = ["AssignmentLogger", "ClientConfig", "Config", "Configuration"]
