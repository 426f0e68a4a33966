"""``eppo_client.bandit``: ``BanditResult`` is the evaluation result of a bandit call."""

from . import EvaluationResult

BanditResult = EvaluationResult

__all__ = ["BanditResult"]
