"""AppTest of the Architecture page's section mapping the lesson's code to ours, in both languages."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from resnet.i18n import LANGS, catalog
from resnet.inference.lesson_map import ROWS
from resnet.plots.architecture import ROW_MAX
from tests.helpers import open_page as run


def opened_lesson(at):
    """The page after its lesson expander was opened (it runs its content only then)."""
    at.session_state["arch_lesson"] = True
    return at.run()


@pytest.mark.parametrize("lang", LANGS)
def test_lesson_map_renders_in_both_languages(lang):
    texts = catalog(lang)
    at = run("pages/architecture.py", lang=lang)
    assert texts["arch.lesson"] in [e.label for e in at.expander] and not at.table  # its tables drawn once opened
    mapping, blocks = (table.value for table in opened_lesson(at).table)
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
    at = opened_lesson(run("pages/architecture.py", lang="en", depth="18"))
    assert len(at.table) == 1  # the name map only: the lesson's loop builds bottleneck nets
    assert catalog("en")["arch.lesson_no_blocks"].format(depth=18) in [c.value for c in at.caption]


def one_type_per_column(frame) -> dict[str, set[str]]:
    """Each column's Python types (missing values left out): Arrow needs one per column."""
    return {c: {type(v).__name__ for v in frame[c] if v is not None and v == v} for c in frame.columns}


@pytest.mark.parametrize("depth", ["50", "152"])
def test_block_and_layer_tables_keep_one_type_per_column_and_whole_numbers(depth):
    """Issue 15: stride/padding were ints mixed with "" (Arrow traceback), "None" cells,
    "3.0/2.0" in the CSV (written from the shown table), and counts without separators."""
    texts = catalog("en")
    at = run("pages/architecture.py", lang="en", depth=depth, block="layer3.0")
    block, layers = (frame.value for frame in at.dataframe)
    for frame in (block, layers):
        assert all(len(types) <= 1 for types in one_type_per_column(frame).values()), one_type_per_column(frame)
        assert not frame.isna().any().any() and "None" not in frame.astype(str).to_numpy()
    assert list(block[texts["col.stride"]]) == ["1", "", "2", "", "1", "", "2", ""]  # option B's projection at 3.0
    csv = pd.read_csv(io.StringIO(layers.to_csv(index=False)), dtype=str, keep_default_na=False)
    whole = csv[[texts["col.padding"], texts["col.stride"]]]
    assert tuple(whole.iloc[0]) == ("3", "2")  # conv1: 7×7, padding 3, stride 2
    assert whole.map(lambda cell: cell == "" or cell.isdigit()).all().all()  # never "3.0"
    for frame in at.dataframe:  # parameter and MAC counts are numbers shown with thousands separators
        config = json.loads(frame.proto.columns)
        assert config[texts["col.params"]]["type_config"]["format"] == "localized"


def test_a_deep_stage_wraps_onto_lines_of_at_most_ten_blocks():
    """Issue 15: ResNet-152's 36-block stage 3 drew 36 markers on one line (labels 3.10–3.35
    ran together); it wraps onto balanced lines, every marker keeps its click target."""
    at = run("pages/architecture.py", lang="en", depth="152")
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    markers = next(trace for trace in chart["data"] if trace.get("customdata"))
    assert len(markers["customdata"]) == 1 + 50 + 1 and max(markers["x"]) < ROW_MAX
    lines = {y for name, y in zip(markers["customdata"], markers["y"]) if name.startswith("layer3.")}
    assert len(lines) == 4  # 36 blocks → 4 lines of 9
