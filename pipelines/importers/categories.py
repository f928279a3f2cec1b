"""A small, documented keyword map from Online Retail descriptions to top-level categories.

The dataset has no categories. The first rule whose keyword appears as a whole word in the upper-cased
description wins; nothing matches -> "gifts_other". The buckets describe a gift wholesaler's range
honestly instead of forcing it into the platform's grocery categories (fresh, snacks, ...).
"""

from __future__ import annotations

import polars as pl

DEFAULT_CATEGORY = "gifts_other"

# (category, keywords) in priority order; keywords are whole words (regex alternation inside \b...\b)
CATEGORY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("seasonal", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "EASTER", "WREATH", "NATIVITY",
                  "SNOWFLAKE", "HALLOWEEN", "BAUBLES?")),
    ("jewellery_accessories", ("NECKLACE", "BRACELET", "EARRINGS", "CHARM", "DIAMANTE", "BEADS?", "HAIR",
                               "BROOCH", "HAIRCLIP", "SCARF", "KEYRING", "NECKL", "LARIAT",
                               "GLOSS")),
    ("candles_lighting", ("CANDLES?", "T-LIGHTS?", "LANTERN", "LIGHTS?", "LAMP", "INCENSE", "BURNER",
                          "NIGHTLIGHT")),
    ("bags", ("BAGS?", "PURSE", "HANDBAG", "TOTE", "BACKPACK", "SHOPPER", "UMBRELLA", "WALLET")),
    ("kitchen_dining", ("MUGS?", "CUPS?", "PLATES?", "BOWLS?", "TEA", "TEACUP", "TEAPOT", "CAKE", "JARS?",
                        "TRAY", "CUTLERY", "KITCHEN", "BAKING", "LUNCH", "PANTRY", "COFFEE", "JAM", "DISH",
                        "NAPKINS?", "BOTTLE", "SPOONS?", "APRON", "OVEN", "PICNIC", "RECIPE", "DOILY",
                        "BISCUIT", "CHOPSTICKS", "GLASSES", "TUMBLER", "COASTERS?", "TINS?",
                        "BREAD", "UTENSIL", "STRAWS")),
    ("stationery_wrap", ("CARDS?", "WRAP", "PAPER", "NOTEBOOK", "PENS?", "PENCILS?", "STICKERS?", "BOOK",
                         "ENVELOPES?", "TAPE", "RIBBONS?", "TISSUES", "CALENDAR", "JOURNAL", "ERASER",
                         "RULER", "STAMPS?", "NOTEPAD", "MEMO")),
    ("toys_party", ("TOY", "TOYS", "GAMES?", "PARTY", "BALLOONS?", "BUNTING", "DOLL", "DOLLY", "JIGSAW",
                    "SPACEBOY", "CHILDRENS", "CHILDS", "KIDS", "BIRTHDAY", "PLAYHOUSE", "DOMINOES",
                    "SKIPPING", "MAGIC", "FELTCRAFT", "CRAYONS", "BUBBLES", "TEDDY", "MARBLES")),
    ("garden_outdoor", ("GARDEN", "PLANTS?", "PLANTER", "BIRD", "WATERING", "PARASOL", "HEN", "FLOWER POT",
                        "BIRDHOUSE", "FEEDER")),
    ("home_decor", ("HEARTS?", "SIGN", "FRAME", "CLOCK", "DECORATION", "HANGING", "CUSHION", "DOORMAT",
                    "ORNAMENT", "MIRROR", "GARLAND", "HOOKS?", "DRAWER", "CABINET", "KNOB", "STORAGE",
                    "BOX", "BOXES", "TILE", "LETTERS?", "HOME", "WALL", "VASE", "PHOTO", "COVER", "BASKET",
                    "THROW", "RACK", "STAND", "HANGER", "MAGNETS?", "DOORSTOP", "QUILT",
                    "FLOWERS?", "CURTAIN", "MOBILE", "CHIMES?")),
)

CATEGORIES = tuple(name for name, _ in CATEGORY_RULES) + (DEFAULT_CATEGORY,)


def category_expr(description: pl.Expr) -> pl.Expr:
    """A polars expression: the category of each description (vectorised, deterministic)."""
    text = description.str.to_uppercase()
    expr: pl.Expr | None = None
    for name, words in CATEGORY_RULES:
        pattern = r"\b(?:" + "|".join(words) + r")\b"
        hit = text.str.contains(pattern).fill_null(False)
        expr = pl.when(hit).then(pl.lit(name)) if expr is None else expr.when(hit).then(pl.lit(name))
    assert expr is not None
    return expr.otherwise(pl.lit(DEFAULT_CATEGORY))
