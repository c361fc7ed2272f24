"""AppTest of the Architecture page's section mapping the lesson's code to ours, in both languages."""

from __future__ import annotations

import pytest

from resnet.i18n import LANGS, catalog
from resnet.inference.lesson_map import ROWS
from tests.helpers import open_page as run


@pytest.mark.parametrize("lang", LANGS)
def test_lesson_map_renders_in_both_languages(lang):
    texts = catalog(lang)
    at = run("pages/architecture.py", lang=lang)
    assert texts["arch.lesson"] in [e.label for e in at.expander]
    mapping, blocks = (table.value for table in at.table)
    assert list(mapping.columns) == [texts[f"arch.lesson_col_{c}"] for c in ("lesson", "ours", "note")]
    assert len(mapping) == len(ROWS)
    assert list(mapping.iloc[:, 2]) == [texts[f"arch.lesson.{r.key}"] for r in ROWS]  # the notes in this language
    assert list(mapping.iloc[:, 1]) == [f"`{r.ours}`" for r in ROWS]  # each side one code span
    # ResNet-50 by default: 16 blocks, bb_0_0 ↔ layer1.0 … bb_3_2 ↔ layer4.2, all agreeing
    assert len(blocks) == 16
    assert (blocks.iloc[0, 0], blocks.iloc[0, 3], blocks.iloc[0, 4]) == ("`bb_0_0`", "`layer1.0`", "`projection`")
    assert (blocks.iloc[-1, 0], blocks.iloc[-1, 3], blocks.iloc[-1, 1]) == ("`bb_3_2`", "`layer4.2`", "`shortcut=True`")
    assert set(blocks.iloc[:, 5]) == {"✓"}


def test_lesson_map_has_no_block_table_for_basic_block_nets():
    at = run("pages/architecture.py", lang="en", depth="18")
    assert len(at.table) == 1  # the name map only: the lesson's loop builds bottleneck nets
    assert catalog("en")["arch.lesson_no_blocks"].format(depth=18) in [c.value for c in at.caption]
