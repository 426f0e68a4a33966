"""The assignment logger interface (``eppo_client.assignment_logger``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, MutableMapping, Optional, Tuple


class AssignmentLogger:
    """Receives one ``log_assignment(event)`` call per logged assignment, on the thread
    that asked for the assignment. Events are the core's: ``featureFlag``, ``allocation``,
    ``experiment``, ``variation``, ``subject``, ``subjectAttributes``, ``timestamp``,
    ``metaData`` and the split's ``extraLogging`` entries; and one
    ``log_bandit_action(event)`` call per bandit action (``flagKey``, ``banditKey``,
    ``subject``, ``action``, ``actionProbability``, ``optimalityGap``, ``modelVersion``,
    ``timestamp``, subject and action numeric and categorical attributes, ``metaData``).
    The defaults do nothing; an exception raised here is logged under the ``eppo`` logger,
    never raised."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_assignment(self, event: Dict[str, Any]) -> None:
        pass

    def log_bandit_action(self, event: Dict[str, Any]) -> None:
        pass


class AssignmentCacheLogger(AssignmentLogger):
    """Forwards an event to ``inner`` unless the cache says the subject already got the
    same allocation and variation (bandit events: the same bandit and action)."""

    def __init__(
        self,
        inner: AssignmentLogger,
        *,
        assignment_cache: Optional[MutableMapping] = None,
        bandit_cache: Optional[MutableMapping] = None,
    ) -> None:
        super().__init__()
        self.__inner = inner
        self.__assignment_cache = assignment_cache
        self.__bandit_cache = bandit_cache

    def log_assignment(self, event: Dict[str, Any]) -> None:
        key = (event["featureFlag"], event["subject"])
        value = (event["allocation"], event["variation"])
        _cache_or_call(self.__assignment_cache, key, value, lambda: self.__inner.log_assignment(event))

    def log_bandit_action(self, event: Dict[str, Any]) -> None:
        key = (event["flagKey"], event["subject"])
        value = (event["banditKey"], event["action"])
        _cache_or_call(self.__bandit_cache, key, value, lambda: self.__inner.log_bandit_action(event))


def _cache_or_call(cache: Optional[MutableMapping], key: Tuple, value: Tuple, fn: Callable[[], None]) -> None:
    if cache is not None:
        previous = cache.get(key)
        if previous and previous == value:
            return
    fn()
    if cache is not None:
        cache[key] = value


__all__ = ["AssignmentCacheLogger", "AssignmentLogger"]
