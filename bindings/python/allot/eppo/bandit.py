"""``eppo_client.bandit``: ``BanditResult`` is what ``get_bandit_action`` returns
(``variation``, ``action`` and ``evaluation_details``); ``ContextAttributes`` the subject's
and actions' numeric and categorical attributes."""

from . import ContextAttributes, EvaluationResult

BanditResult = EvaluationResult

__all__ = ["BanditResult", "ContextAttributes"]
