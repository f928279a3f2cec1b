"""Locales for people: zh-CN by default, English on request; pick reasons rendered from code + numbers.

The catalogs are gettext .po files in `api/locale/<locale>/LC_MESSAGES/messages.po`, read with
Babel on first use (no compile step to forget). Their message contexts:

- `reason`: msgid is a reason code (`recsys.picks.REASON_CODES`), msgstr the sentence with `{name}`
  placeholders for its numbers (`reason_args`). Codes in `PLURAL_ARG` are plural entries: the
  count named there chooses the form (English "once" / "3 times"; Chinese has one form).
  A reason may quote a number with a unit, `{last_days:day}`: the `unit` context's plural entry
  (msgid "day", msgid_plural "days", msgstr "{n} day" / "{n} days") words it by that number, so
  every count in a sentence gets its own plural form ("1 day", "6 days"); Chinese, with one
  form, needs no `day` unit. A unit may word a number of its own: an entry `msgid "ago=1"` in the
  `unit` context is what `{last_days:ago}` says for 1 ("yesterday", "昨天"), and `every=1` what
  `{cycle_days:every}` says for a daily habit ("every day", "每天"); other numbers take the unit's
  plural entry ("6 days ago", "6天前", "every 6 days", "每6天").
- `reason_unnamed`: msgid is a reason code, msgstr its sentence for when a code it quotes (a
  category) has no display name in this locale: a raw code is never pasted into a sentence. A code
  written in Chinese characters (a Chinese platform's own category, 日用) is its own name in zh-CN.
- `category`, `city`, `group_kind`, `slot`, `method`: msgid is the data's code, msgstr its display
  name, matched without regard to case (`hangzhou` is Hangzhou); a value without an entry (a real
  city already written in Chinese, a forecast method this service does not know) is shown as it is.
- no context: the pages' text; msgid is the English text, so English needs no entry.

The locale of a request: `?lang=` when it names a supported language, else the best of
`Accept-Language` by q-value, else zh-CN.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from string import Formatter
from typing import Any

from babel.core import parse_locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LANGUAGE_TAGS = {"zh_CN": "zh-CN", "en": "en"}  # BCP 47: Content-Language, <html lang>
_BY_LANGUAGE = {"zh": "zh_CN", "en": "en"}  # zh-TW / zh-Hant read zh-CN better than English
# the count that chooses the plural form of a reason's sentence
PLURAL_ARG = {
    "regular_recent": "orders",
    "regular_before": "order_days",
    "hot_buyers": "groups",
    "young_group_own": "orders",
    "hot_city": "groups",
    "hot_platform": "groups",
    "new_responding": "groups",
    "seasonal_own": "order_days",
    "seasonal_platform": "groups",
}
# reason args that are codes with a display name: arg -> message context
TERM_ARGS = {"category": "category", "city": "city", "kind": "group_kind"}
MAX_LANGUAGE_RANGES = 16  # of an Accept-Language header; the rest is ignored


def _is_han(ch: str) -> bool:
    """A CJK ideograph (the unified block, its extension A and the compatibility block)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


@dataclass(frozen=True)
class Messages:
    """One locale's catalog: page text, display names of codes and pick reasons."""

    locale: str
    catalog: Catalog
    translations: Translations
    terms: dict[tuple[str, str], str]  # (context, code in lower case) -> display name

    @property
    def tag(self) -> str:
        return LANGUAGE_TAGS[self.locale]

    def gettext(self, msgid: str) -> str:
        """Page text: the translation of the English `msgid` (itself when there is none)."""
        return self.translations.gettext(msgid)

    def term(self, context: str, code: str | None) -> str:
        """The display name of a code (category, city, group kind); the code itself when it has none."""
        if code is None:
            return ""
        return self.terms.get((context, code.casefold()), code)

    def reads_as_is(self, value: str) -> bool:
        """A value without a display name that this locale's reader can read as written: in Chinese, a
        code that holds Chinese characters (a platform's own category 日用, a city 北京) is its own name,
        pasted into the sentence; any other code (`cat_017`, `household` without an entry) is not."""
        return self.locale == "zh_CN" and any(_is_han(ch) for ch in value)

    def has_reason(self, code: str) -> bool:
        """The code has an entry, its plural forms are as PLURAL_ARG says, and every unit its
        sentences quote a number with (`{last_days:day}`) has plural entries here."""
        message = self.catalog.get(code, context="reason")
        if message is None:
            return False
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not (all(forms) and message.pluralizable == (code in PLURAL_ARG)):
            return False
        units = {spec for form in forms for _, name, spec, _ in Formatter().parse(form) if name and spec}
        return all(self.has_unit(unit) for unit in units)

    def has_unit(self, unit: str) -> bool:
        message = self.catalog.get(unit, context="unit")
        return message is not None and message.pluralizable and all(message.string)

    def quantity(self, unit: str, count: Any, text: str) -> str:
        """A number with its unit in this locale's plural form for it ("1 day", "6 days"); `text` is the
        number as already formatted. ValueError when the catalog has no such unit."""
        if not self.has_unit(unit):
            raise ValueError(f"no plural entry for unit {unit!r} in {self.locale}")
        if isinstance(count, bool) or not isinstance(count, int | float):
            raise ValueError(f"unit {unit!r} needs a number; got {count!r}")
        n = int(count) if float(count).is_integer() else 2  # a fraction takes the "many" form
        own = self.catalog.get(f"{unit}={n}", context="unit") if n == count else None
        if own is not None and own.string:
            return own.string
        return self.translations.npgettext("unit", unit, unit, n).format(n=text)

    def reason(self, code: str | None, args: dict[str, Any] | None, fallback: str = "") -> str:
        """The sentence for a reason code with its numbers; `fallback` (the published English) when
        the code has no entry here or a number it quotes is missing."""
        if not code or args is None or not self.has_reason(code):
            return fallback
        try:
            template = self._template(self._reason_context(code, args), code, args)
            return template.format_map({name: _Arg(self, name, value) for name, value in args.items()})
        except (KeyError, IndexError, TypeError, ValueError):
            return fallback

    def _reason_context(self, code: str, args: dict[str, Any]) -> str:
        """`reason_unnamed` when the reason quotes a code without a display name here and the
        catalog has that sentence for it; else `reason`."""
        unnamed = any(
            name in TERM_ARGS and value is not None
            and (TERM_ARGS[name], str(value).casefold()) not in self.terms
            and not self.reads_as_is(str(value))
            for name, value in args.items()
        )
        return "reason_unnamed" if unnamed and self.catalog.get(code, context="reason_unnamed") else "reason"

    def _template(self, context: str, code: str, args: dict[str, Any]) -> str:
        if code in PLURAL_ARG:
            return self.translations.npgettext(context, code, code, int(args[PLURAL_ARG[code]]))
        return self.translations.pgettext(context, code)

    def _value(self, name: str, value: Any) -> str:
        if value is None:
            raise ValueError(f"reason arg {name} is null")
        if name in TERM_ARGS:
            return self.term(TERM_ARGS[name], str(value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        return format_decimal(value, locale=self.locale)


@dataclass(frozen=True)
class _Arg:
    """One reason arg as a sentence quotes it: `{name}` its display text, `{name:unit}` with the unit
    in the plural form for the number (`Messages.quantity`)."""

    messages: Messages
    name: str
    value: Any

    def __format__(self, spec: str) -> str:
        text = self.messages._value(self.name, self.value)
        return self.messages.quantity(spec, self.value, text) if spec else text


@cache
def messages(locale: str = DEFAULT_LOCALE) -> Messages:
    """The catalog of a supported locale, read once per process."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; expected one of {', '.join(LOCALES)}")
    po = resources.files("api").joinpath("locale", locale, "LC_MESSAGES", "messages.po")
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    terms = {
        (m.context, m.id.casefold()): m.string
        for m in catalog
        if m.context not in (None, "reason", "reason_unnamed", "unit") and isinstance(m.id, str) and m.string
    }
    return Messages(locale, catalog, Translations(fp=buf), terms)


def supported(tag: str | None) -> str | None:
    """The supported locale for a language tag (zh, zh-CN, zh_Hans, en-GB, ...), or None."""
    if not tag:
        return None
    try:
        language = parse_locale(tag.strip().replace("-", "_"))[0].lower()
    except (ValueError, TypeError):
        return None
    return _BY_LANGUAGE.get(language)


@lru_cache(maxsize=512)
def from_accept_language(header: str | None) -> str | None:
    """The best supported locale of an Accept-Language header by q-value (ties: the first), or None."""
    if not header:
        return None
    ranked = []
    for position, part in enumerate(header.split(",")[:MAX_LANGUAGE_RANGES]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        found = DEFAULT_LOCALE if tag == "*" else supported(tag)
        if found:
            return found
    return None


def choose_locale(lang: str | None, accept_language: str | None, remembered: str | None = None) -> str:
    """`?lang=` if it names a supported language, else a remembered choice (the pages' cookie), else
    the best of Accept-Language, else zh-CN."""
    return supported(lang) or supported(remembered) or from_accept_language(accept_language) or DEFAULT_LOCALE


def parse_args(text: str | None) -> dict[str, Any] | None:
    """A published `reason_args` cell (JSON object text) as a dict; None when null; ValueError if not."""
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object; got {type(value).__name__}")
    return value
