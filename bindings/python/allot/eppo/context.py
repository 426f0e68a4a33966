"""Subject and action attributes for contextual bandits (``eppo_client.ContextAttributes``)."""

from __future__ import annotations

from typing import Any, Dict, Union

Attribute = Union[str, int, float, bool, None]


class ContextAttributes:
    """Attributes split by meaning: ``numeric_attributes`` (quantities, scored by a
    coefficient) and ``categorical_attributes`` (labels: strings, booleans, or numbers
    standing for a category, scored per value)."""

    __slots__ = ("_numeric", "_categorical")

    def __init__(self, numeric_attributes: Dict[str, float], categorical_attributes: Dict[str, Any]) -> None:
        self._numeric = dict(numeric_attributes)
        self._categorical = dict(categorical_attributes)

    @staticmethod
    def empty() -> ContextAttributes:
        """No attributes."""
        return ContextAttributes({}, {})

    @staticmethod
    def from_dict(attributes: Dict[str, Attribute]) -> ContextAttributes:
        """Splits a dictionary by value type: numbers are numeric, strings and booleans
        categorical, ``None`` values are left out."""
        numeric: Dict[str, float] = {}
        categorical: Dict[str, Any] = {}
        for key, value in attributes.items():
            if isinstance(value, (str, bool)):
                categorical[key] = value
            elif isinstance(value, (int, float)):
                numeric[key] = float(value)
            elif value is not None:
                raise TypeError("invalid type for subject attribute value")
        return ContextAttributes(numeric, categorical)

    @property
    def numeric_attributes(self) -> Dict[str, float]:
        """A copy of the numeric attributes."""
        return dict(self._numeric)

    @property
    def categorical_attributes(self) -> Dict[str, Any]:
        """A copy of the categorical attributes."""
        return dict(self._categorical)

    def _to_json(self) -> Dict[str, Any]:
        return {"numeric_attributes": self._numeric, "categorical_attributes": self._categorical}

    def __repr__(self) -> str:
        return f"ContextAttributes(numeric_attributes={self._numeric!r}, categorical_attributes={self._categorical!r})"


def attributes_json(attributes: Union[ContextAttributes, Dict[str, Attribute], None]) -> Dict[str, Any]:
    """The request form of subject or action attributes: split, or a plain dictionary
    (which the library splits as :meth:`ContextAttributes.from_dict` does)."""
    if attributes is None:
        return {}
    if isinstance(attributes, ContextAttributes):
        return attributes._to_json()
    return attributes
