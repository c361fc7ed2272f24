"""One glossary per language (assets/i18n/glossary.json): every catalog string uses its terms.

A zh string fails when it holds an English glossary term that has a zh form (unless as the
gloss 起始层（stem） right after the zh term), and a string of either language fails when it
spells a concept another way than the glossary's ('reject_en' / 'reject_zh').
"""

from __future__ import annotations

import json
import re

import pytest

from resnet.i18n import LANGS, catalog
from resnet.paths import ASSETS

GLOSSARY = json.loads((ASSETS / "i18n" / "glossary.json").read_text(encoding="utf-8"))["concepts"]

# Not prose, so not checked: {placeholders}, `code`, 《paper titles》, and in zh an ASCII-only
# “quote” (a widget's English text, a paper's title).
_NOT_PROSE = {
    "en": re.compile(r"\{[^{}]*\}|`[^`]*`"),
    "zh": re.compile(r"\{[^{}]*\}|`[^`]*`|《[^》]*》|“[ -~]*”"),
}


def prose(text: str, lang: str, concept: dict) -> str:
    """``text`` without what is not checked, and without the passages the concept allows on purpose."""
    text = _NOT_PROSE[lang].sub(" ", text)
    for passage in concept.get(f"allow_{lang}", []):
        text = text.replace(passage, " ")
    return text


def problems(text: str, lang: str) -> list[str]:
    """Every way ``text`` (one catalog string in ``lang``) departs from the glossary; [] when none."""
    found = []
    for name, concept in GLOSSARY.items():
        checked = prose(text, lang, concept)
        for pattern in concept.get(f"reject_{lang}", []):
            if m := re.search(pattern, checked):
                found.append(f"{name}: {m.group(0)!r} is not the glossary's {concept[lang]!r}")
        if lang == "zh" and "en_in_zh" in concept:
            if "gloss_zh" in concept:  # the gloss 起始层（stem） right after the zh term is the one allowed use
                checked = re.sub(f"(?:{concept['gloss_zh']})(?:\\*\\*)?（(?:{concept['en_in_zh']})", " ", checked)
            if m := re.search(concept["en_in_zh"], checked):
                found.append(f"{name}: English {m.group(0)!r} in zh, where the glossary says {concept['zh']!r}")
    return found


def test_glossary_is_well_formed() -> None:
    for name, concept in GLOSSARY.items():
        assert concept.get("en") and concept.get("zh"), name
        for key in ("reject_en", "reject_zh", "en_in_zh", "gloss_zh"):
            for pattern in [concept[key]] if isinstance(concept.get(key), str) else concept.get(key, []):
                re.compile(pattern)


@pytest.mark.parametrize("text, lang, flagged", [
    ("stem · 16×16×16", "zh", True),  # the English term where the zh one exists
    ("第一行是起始层（stem），之后每个阶段一行", "zh", False),  # the gloss on first use
    ("在 ResNet-20 已经能拟合的 digits 上", "zh", True),
    ("内置手写数字数据集（digits，8×8）", "zh", False),
    ("普通网络-20", "zh", True),  # the name is plain-20 in both languages
    ("plain-20 和 ResNet-20", "zh", False),
    ("方案 A（补零）", "zh", True),  # a concept written two ways: 选项 A is the glossary's
    ("选项 A（补零）", "zh", False),
    ("卷积（步幅 2）", "zh", True),
    ("批归一化", "zh", True),
    ("随机水平", "zh", True),
    ("{plain}{residual} `resnet/lab/lesion.py`", "zh", False),  # placeholders and code are not prose
    ("Ablation: drop a block", "en", True),
    ("deleting a single layer of VGG drops it to chance", "en", False),
    ("Loss surfaces around each run's weights", "en", True),
    ("the batch norm layer", "en", True),
])
def test_the_check_tells_glossary_terms_from_others(text: str, lang: str, flagged: bool) -> None:
    assert bool(problems(text, lang)) == flagged, problems(text, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_every_catalog_string_uses_the_glossary(lang: str) -> None:
    found = {key: p for key, text in catalog(lang).items() if (p := problems(text, lang))}
    assert not found, "\n".join(f"{key}: {'; '.join(p)}" for key, p in sorted(found.items()))
