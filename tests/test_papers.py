"""The papers' quoted figures (resnet/papers.py) and the catalogs that quote them.

Every figure names its paper, its place in the paper and two copies it was read in; every
percentage a catalog sentence prints beside a paper's name is one of that paper's figures;
each paper goes by one name in both languages.
"""

from __future__ import annotations

import re
import string
import subprocess
import sys

import pytest

from resnet.i18n import LANGS, catalog
from resnet.papers import (
    CITATIONS, FIGURE_LETTER_SOURCES, FIGURE_LETTERS, FIGURES, HE_2015, HE_2016, LI_2018, PLACES, QUOTED, SOURCES,
    VEIT_2016, printed, quoted,
)

# How a sentence shows that it cites a paper (any spelling, so a stray one is caught below).
CITES = {
    HE_2015: re.compile(r"He (et al\.|等人?)[ ,，(（]*2015"),
    HE_2016: re.compile(r"He (et al\.|等人?)[ ,，(（]*2016"),
    VEIT_2016: re.compile(r"Veit"),
    LI_2018: re.compile(r"Li (et al\.|等)"),
}
PERCENT = re.compile(r"(?<![\d.{])(\d+(?:\.\d+)?)\s?[%％]")
# Catalog sentences that quote a paper's figures, and the figures they quote.
QUOTES = {
    "why.q1_paper": ("he2016.fail_above", "he2016.shortcut.identity", "he2016.shortcut.scaling_both"),
    "lab.warmup_help": ("he2015.warmup.lr", "he2015.warmup.train_error_below", "he2015.warmup.iterations", "he2015.lr"),
}


@pytest.mark.parametrize("name", sorted(FIGURES) + sorted(PLACES))
def test_every_figure_has_a_paper_a_place_and_two_sources(name):
    entry = FIGURES.get(name) or PLACES[name]
    assert entry.paper in CITATIONS and entry.where.strip()
    assert len(set(entry.sources)) >= 2 and set(entry.sources) <= set(SOURCES), entry.sources
    if name in FIGURES:
        assert entry.unit.strip() and entry.what.strip()
        assert entry.value == "fail" or isinstance(entry.value, (int, float))


def test_papers_module_loads_without_paddle_or_streamlit():
    code = "import sys, resnet.papers; print(sorted({'paddle', 'streamlit'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("lang", LANGS)
def test_percentages_beside_a_paper_are_that_papers_figures(lang):
    """A sentence citing a paper prints no hand-typed percentage that is not that paper's."""
    checked = 0
    for key, text in catalog(lang).items():
        cited = [paper for paper, pattern in CITES.items() if pattern.search(text)]
        if not cited:
            continue
        allowed = {f.value for f in FIGURES.values() if f.paper in cited and "%" in f.unit}
        for number in PERCENT.findall(text):
            assert float(number) in allowed, f"{lang} {key}: {number} % is not a figure of {cited} in resnet/papers.py"
            checked += 1
    assert checked >= 4  # why.q1_paper's three and the warm-up's 80 %: the test reads real sentences


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", sorted(QUOTES))
def test_quoting_sentences_show_the_papers_values(key, lang):
    text = catalog(lang)[key]
    for name in QUOTES[key]:
        assert re.search(rf"(?<![\d.]){re.escape(f'{FIGURES[name].value:g}')}(?![\d])", text), (key, lang, name)


@pytest.mark.parametrize("lang", LANGS)
def test_each_paper_goes_by_one_name(lang):
    """"He et al. 2016 (Identity Mappings)", never "2016b" or the bare year; "Veit et al. 2016"."""
    for key, text in catalog(lang).items():
        rest = text
        for names in CITATIONS.values():
            rest = rest.replace(names[lang], "")
        assert not re.search(r"20\d\d[ab]\b", rest), (lang, key)
        assert not CITES[HE_2016].search(rest), (lang, key)
        assert not re.search(r"Veit[,、] Wilber|Veit (et al\.|等人?)[ ,，(（]*2016", rest), (lang, key)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", sorted(QUOTED))
def test_sentences_quoting_through_placeholders_name_each_figure_and_cite_its_paper(key, lang):
    """A sentence that gets its figures from ``quoted(key)`` uses exactly those placeholders, cites the papers they
    come from, and renders each figure as the paper prints it."""
    text = catalog(lang)[key]
    assert {field for _, field, _, _ in string.Formatter().parse(text) if field} == set(QUOTED[key]), (key, lang)
    for name in QUOTED[key].values():
        assert CITATIONS[FIGURES[name].paper][lang] in text, (key, lang, name)
    rendered = text.format(**quoted(key))
    assert all(printed(name) in rendered for name in QUOTED[key].values())
    assert printed("he2015.top1.resnet34_b") == "24.52" and printed("he2016.shortcut.zero") == "fail"


# He et al. 2016 (Identity Mappings), Tables 1 and 2 as both copies print them (I1 and I2, read again for the lab's
# two presets): case → test error, ResNet-110 on CIFAR-10. The presets label each variant with one of these.
TABLE_1 = {"identity": 6.61, "scaling_shortcut": "fail", "scaling_both": 12.35, "exclusive_gating_0_to_-5": "fail",
           "exclusive_gating_-6": 8.70, "exclusive_gating_-7": 9.81, "shortcut_gating_0": 12.86, "shortcut_gating_-6": 6.91,
           "conv1x1": 12.22, "dropout": "fail", "zero": "fail"}
TABLE_2_110 = {"original": 6.61, "bn_after_add": 8.17, "relu_before_add": 7.84, "relu_preact": 6.71, "full_preact": 6.37}


def test_tables_1_and_2_of_identity_mappings_as_printed():
    assert {case: FIGURES[f"he2016.shortcut.{case}"].value for case in TABLE_1} == TABLE_1
    assert {unit: FIGURES[f"he2016.unit.{unit}.110"].value for unit in TABLE_2_110} == TABLE_2_110
    for name in [f"he2016.shortcut.{case}" for case in TABLE_1] + [f"he2016.unit.{unit}.110" for unit in TABLE_2_110]:
        assert FIGURES[name].paper == HE_2016 and FIGURES[name].where == ("Table 1" if "shortcut" in name else "Table 2")
        assert {"he16-md", "he16-bilingual"} <= set(FIGURES[name].sources)


def test_every_lab_variant_has_its_figure_letter():
    """Fig. 2 (a)-(f) for the shortcuts, Fig. 4 (a)-(e) for the units, each letter once (the plain net is Fig. 2(b)'s
    scaling by 0, Table 1's first constant-scaling row)."""
    from resnet.model.spec import SHORTCUT_VARIANTS, UNITS

    assert set(FIGURE_LETTERS["shortcut"]) == set(SHORTCUT_VARIANTS) and set(FIGURE_LETTERS["unit"]) == set(UNITS)
    assert sorted(FIGURE_LETTERS["unit"].values()) == [("4", letter) for letter in "abcde"]
    shortcuts = {v for s, v in FIGURE_LETTERS["shortcut"].items() if s != "none"}
    assert sorted(shortcuts) == [("2", letter) for letter in "abcdef"] and FIGURE_LETTERS["shortcut"]["none"] == ("2", "b")
    assert set(FIGURE_LETTER_SOURCES) <= set(SOURCES) and len(set(FIGURE_LETTER_SOURCES)) >= 2


def test_the_variant_presets_quote_the_row_of_each_variant():
    """Each variant of the two presets is labelled with its own row: the gates start at b_g = 0 (the model's
    gate_bias), so exclusive gating is the "fail" row (b_g 0 to −5) and shortcut-only gating 12.86."""
    from resnet.lab.presets import PRESETS
    from resnet.model.network import ResNetConfig

    assert ResNetConfig().gate_bias == 0.0
    rows = {config.shortcut if config.shortcut != "scaled" else f"scaled{config.residual_scale:g}": name
            for config, name in zip(PRESETS["shortcut_variants"].configs, PRESETS["shortcut_variants"].paper)}
    assert rows == {"identity": "he2016.shortcut.identity", "scaled1": "he2016.shortcut.scaling_shortcut",
                    "scaled0.5": "he2016.shortcut.scaling_both", "exclusive_gate": "he2016.shortcut.exclusive_gating_0_to_-5",
                    "shortcut_gate": "he2016.shortcut.shortcut_gating_0", "conv1x1": "he2016.shortcut.conv1x1",
                    "dropout": "he2016.shortcut.dropout"}
    assert all(c.scale == 0.5 for c in PRESETS["shortcut_variants"].configs if c.shortcut == "scaled")
    units = dict(zip((c.unit for c in PRESETS["activation_order"].configs), PRESETS["activation_order"].paper))
    assert units == {unit: f"he2016.unit.{unit}.110" for unit in TABLE_2_110}
