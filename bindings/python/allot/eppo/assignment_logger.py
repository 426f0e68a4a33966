"""The assignment logger interface (``eppo_client.assignment_logger``)."""

from __future__ import annotations

from typing import Any, Dict


class AssignmentLogger:
    """Receives one ``log_assignment(event)`` call per logged assignment, on the thread
    that asked for the assignment. Events are the core's: ``featureFlag``, ``allocation``,
    ``experiment``, ``variation``, ``subject``, ``subjectAttributes``, ``timestamp``,
    ``metaData`` and the split's ``extraLogging`` entries; and one
    ``log_bandit_action(event)`` call per bandit action (``flagKey``, ``banditKey``,
    ``subject``, ``action``, ``actionProbability``, ``optimalityGap``, ``modelVersion``,
    ``timestamp``, subject and action numeric and categorical attributes, ``metaData``).
    The defaults do nothing; an exception raised here is logged under the ``allot``
    logger, never raised."""

    def log_assignment(self, assignment_event: Dict[str, Any]) -> None:
        pass

    def log_bandit_action(self, bandit_event: Dict[str, Any]) -> None:
        pass
