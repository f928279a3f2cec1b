"""Candidate generators behind one interface; importing this package registers them all."""

from recsys.models import (  # noqa: F401 - registration
    factors,
    itemknn,
    members,
    popularity,
    reorder,
    repeat_cycle,
    tifu,
    year_ago,
)
from recsys.models.base import MODELS, Recommender, make_model

__all__ = ["MODELS", "Recommender", "make_model"]
