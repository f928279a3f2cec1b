"""Candidate generators behind one interface; importing this package registers them all."""

from recsys.models import factors, itemknn, members, popularity, reorder  # noqa: F401 - registration
from recsys.models.base import MODELS, Recommender, make_model

__all__ = ["MODELS", "Recommender", "make_model"]
