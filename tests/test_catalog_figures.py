"""No hand-typed figure in the en/zh catalogs (DESIGN.md, "Measured claims").

A figure is a number that states how much: one with a unit of amount (%, pp, ×, 倍, steps,
iterations, 亿, k, MB, s …), a decimal, a number marked approximate (≈, ~, 约, about), or one
with thousands separators. What the app measured is a placeholder filled from its data; the
only figures a catalog may type are the papers' quoted ones, kept in resnet/papers.py with
their source, in a sentence that cites that paper.

Numbers that are not amounts are masked out first by what they are, not by their value:
placeholders, net and layer names (ResNet-56, layer2.4), sizes (3×3, 224×224), references
(Sec. 4.2, Fig. 5(a), 第 4.2 节, 图 7), years, a symbol's setting (λ = 0.5, t = 0), a coefficient
in a formula (2 × MACs, λ^L), a licence or software version (CC BY 4.0, Paddle 3) and the
confidence level of an interval (95 % interval).
"""

from __future__ import annotations

import re

import pytest

from resnet.i18n import LANGS, catalog
from resnet.papers import FIGURES
from tests.test_papers import CITES  # how a sentence cites each paper

GAP = " ¦ "  # what a masked span becomes: a unit after it no longer reads as the masked number's
NUMBER = r"\d+(?:[.,]\d+)*"
NOT_AMOUNTS = [
    r"\{[^{}]*\}",  # placeholders (format specs hold digits: {acc:.1%})
    r"\b[A-Za-z][A-Za-z0-9]*-\d+[A-Za-z]*",  # net names: ResNet-56, plain-20, VGG-16
    r"\blayer\d+(?:\.\d+)?",  # block names: layer2.4
    r"\d+\s*×\s*\d+(?:\s*/\s*\d+)?(?:\s*px)?",  # sizes: 3×3, 224×224, a 3×3/2 pool, 16×16 px
    r"(?:Sec|Sections?|Figs?|Figure|Tables?|Eqs?)\.?\s*\d+(?:\.\d+)*(?:\([a-z]\))?"
    r"(?:\s*(?:[-–,、]|and|和)\s*\d+(?:\.\d+)*(?:\([a-z]\))?)*",  # references: Sec. 4.2, Tables 3, 4
    r"(?:第|图|表|式)\s*\d+(?:\.\d+)*(?:\([a-z]\))?(?:\s*[-–,、和]\s*\d+(?:\.\d+)*)*",  # 第 4.2 节, 图 5(a), 第 1 步
    r"\b(?:19|20)\d\d[ab]?\b",  # years
    r"(?<![\w.])[A-Za-zλθ][₀-₉]?\s*[=<>≤≥]\s*[-−]?\d+(?:\.\d+)?"
    r"(?:\s*(?:,|、|…|\.\.\.|and|or|和|或)\s*[-−]?\d+(?:\.\d+)?)*",  # a symbol's setting: λ = 0, 0.5, 1 and 2
    r"(?<![\d.])\d+ × (?=[A-Zλ{])|(?<=[A-Za-z}]) × \d+|\d+(?=\^)",  # formulas: 2 × MACs, MACs × 2, 2^L
    r"\b(?:CC BY(?:-SA)?|Paddle(?:Paddle)?|飞桨|Python|Streamlit)\s*\d+(?:\.\d+)*",  # licence and software versions
    r"\d+\s*[%％]\s*(?=(?:(?:Wilson|McNemar|paired|配对)\s*)?(?:confidence|interval|CI|置信|区间))",  # a confidence level
    r"(?<![\d.])\d+(?:\.\d+)?(?=·|x\b|λ)",  # a coefficient: 0.5x, 0.5·F(x)
    r"(?<![\d.,])0(?![\d.,])",  # zero states no amount: "nothing deleted (0 pp)"
]
AMOUNT = re.compile(
    rf"(?:[≈~约]|about|roughly|大约)\s*[-−]?(?P<approx>{NUMBER}(?:\s*(?:k|万|亿))?)"
    rf"|(?<![\d.])(?P<unit>{NUMBER})\s*(?P<u>%|％|pp\b|个百分点|×|倍|steps?\b|iterations?\b|epochs?\b|步|次迭代|亿|万|"
    r"billion|million|megapixels?|[kMG]\b|MB|GB|KB|ms\b|s\b|秒)"
    r"|×\s*(?P<times>\d+(?:\.\d+)?)"
    r"|(?<![\d.])(?P<decimal>\d+\.\d+(?:e-?\d+)?|\d+e-?\d+)"
    r"|\b(?P<thousands>\d{1,3}(?:,\d{3})+)\b"
)
SCALE = {"k": 1e3, "万": 1e4, "亿": 1e8}


def amounts(text: str) -> list[str]:
    """The figures of one catalog text, as typed."""
    for pattern in NOT_AMOUNTS:
        text = re.sub(pattern, GAP, text)
    return [m.group(0).strip() for m in AMOUNT.finditer(text)]


def reading(figure: str) -> tuple[str, float] | None:
    """What a figure states: its kind ("%", "G" or "M" for a count in billions or millions, "" for
    any other) and its number (64k → 64000, 6.4 万 → 64000); None if it reads as none."""
    m = re.search(r"(\d+(?:,\d{3})*(?:\.\d+)?(?:e-?\d+)?)\s*(k|万|亿)?", figure)
    if m is None:
        return None
    kind = "%" if re.search("[%％]", figure) else figure[-1] if figure[-1] in "GM" else ""
    return kind, float(m.group(1).replace(",", "")) * SCALE.get(m.group(2) or "", 1)


def kind_of(unit: str) -> str:
    return "%" if "%" in unit else unit[0] if unit[:2] in ("G ", "M ") else ""


def papers_figures(text: str) -> set[tuple[str, float]]:
    """What resnet/papers.py holds for the papers ``text`` cites: (kind, value) of each figure."""
    cited = {paper for paper, pattern in CITES.items() if pattern.search(text)}
    return {(kind_of(f.unit), float(f.value)) for f in FIGURES.values() if f.paper in cited and not isinstance(f.value, str)}


def typed(text: str) -> list[str]:
    """The figures of ``text`` that are not its cited papers' quoted figures."""
    quoted = papers_figures(text)
    return [f for f in amounts(text) if reading(f) not in quoted]


def offenders(lang: str) -> dict[str, list[str]]:
    return {key: found for key, text in catalog(lang).items() if (found := typed(text))}


@pytest.mark.parametrize("lang", LANGS)
def test_no_catalog_text_types_a_figure(lang):
    found = offenders(lang)
    assert not found, "\n".join(f"{lang} {key}: {figures}" for key, figures in sorted(found.items()))


@pytest.mark.parametrize(("text", "figures"), [
    ("test accuracy 97.5 %, loss 57", ["97.5 %"]),
    ("grows ≈ 1.07× per block (≈ 4× over 27 blocks), 4× as many", ["≈ 1.07", "≈ 4", "4×"]),
    ("at chance in 3 of 5 seeds after 120 steps", ["120 steps"]),
    ("梯度约变为 1.26 倍，训练 120 步", ["1.26 倍", "120 步"]),
    ("costs 0.56 pp; 1,797 digits; 40 megapixels; 25 MB", ["0.56 pp", "1,797", "40 megapixels", "25 MB"]),
    ("the course's 1046亿 from costs rounded to 0.01 G", ["1046亿", "0.01 G"]),
])
def test_figures_are_found(text, figures):
    assert amounts(text) == figures


@pytest.mark.parametrize("text", [
    "{acc:.1%} (95 % interval {low:.1%}–{high:.1%}), {delta:+.1f} pp",
    "ResNet-56 and plain-20, layer2.4, a 3×3/2 max-pool on 224×224 images, 16×16 px",
    "He et al. 2015, Sec. 4.2, Fig. 5(a), Tables 3, 4; 第 4.2 节，图 7，第 1 步",
    "λ = 0, 0.5, 1 and 2; t = 0; 0 < λ < 1; FLOPs = 2 × MACs; {truth} MACs × 2; λ/√2; 2^{exp}",
    "CC BY 4.0, Paddle 3; 15 residual blocks, 3 per bottleneck, seed 0, 5 seeds",
    "y = 0.5·F(x) + 0.5x; the 95 % Wilson interval; nothing deleted (0 pp)",
])
def test_what_is_not_a_figure_is_not_flagged(text):
    assert amounts(text) == []


def test_a_papers_figure_passes_only_beside_its_paper():
    cited = "He et al. 2015 (Table 6): ResNet-110 reaches 6.43 % test error."
    assert typed(cited) == []
    assert typed("ResNet-110 reaches 6.43 % test error.") == ["6.43 %"]  # no paper named
    assert typed("He et al. 2015: costs rounded to 0.01 G") == ["0.01 G"]  # 0.01 is its warm-up rate, not a count
