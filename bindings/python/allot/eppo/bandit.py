"""Contextual bandits (``eppo_client.bandit``): the result of ``get_bandit_action``."""

from . import ContextAttributes, EvaluationResult

#: What ``get_bandit_action`` returns: ``variation``, ``action`` and ``evaluation_details``.
BanditResult = EvaluationResult

__all__ = ["BanditResult", "ContextAttributes"]
