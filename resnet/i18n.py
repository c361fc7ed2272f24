"""UI text catalogs: one per language (assets/i18n/<lang>/*.json), identical key sets.

A missing key renders as ``⟦key⟧`` so it is visible on the page (and caught by the
tests, which render every page in both languages and look for that marker).
"""

from __future__ import annotations

import json
from functools import lru_cache

from .paths import ASSETS

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
MISSING = "⟦{}⟧"


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """The flat key → text mapping of ``lang``: every assets/i18n/<lang>/*.json merged.

    One file per page keeps edits apart; a key defined in two files is an error.
    """
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}, got {lang!r}")
    merged: dict[str, str] = {}
    for path in sorted((ASSETS / "i18n" / lang).glob("*.json")):
        part = json.loads(path.read_text(encoding="utf-8"))
        if clash := merged.keys() & part.keys():
            raise ValueError(f"{path.name} redefines {sorted(clash)[:5]}")
        merged.update(part)
    return merged


def lang_from_locale(locale: str | None) -> str:
    """'zh-CN', 'zh-TW', 'zh' → 'zh'; anything else (or nothing) → the default."""
    if locale and locale.lower().startswith("zh"):
        return "zh"
    return DEFAULT_LANG


class Translator:
    """``t("arch.title")`` or ``t("arch.params", n=25557032)`` in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.texts = catalog(lang)

    # Two translators of one language say the same: equal, so a figure cached for one
    # session serves the next (resnet/plots/cache.py), though every page run makes its own.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Translator) and other.lang == self.lang

    def __hash__(self) -> int:
        return hash((Translator, self.lang))

    def __call__(self, key: str, **values: object) -> str:
        text = self.texts.get(key)
        if text is None:
            return MISSING.format(key)
        return text.format(**values) if values else text
