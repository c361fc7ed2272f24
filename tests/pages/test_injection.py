"""No user-controlled text reaches markdown unescaped (issue 12): URL values, file and
folder names, on every page.

``?lang=![t](http://host/track.png)`` made every visitor's browser fetch that image from
the "out of range" notice, and ``?lang=[Login here](http://host/phish)`` put a live link
in the app's own warning box. Each page is opened with hostile values; every markdown
field it sends (bodies, labels, help, progress and spinner texts — not selectbox options,
which are plain text) must show the hostile text only with its syntax escaped.
"""

from __future__ import annotations

import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from pages.common.ui import hide_paths, md_escape, safe_reason
from resnet.lab import shipped
from tests.helpers import open_page

HOST = "evil.example"
IMAGE = f"![t](http://{HOST}/track.png)"
LINK = f"[Login here](http://{HOST}/phish)"
# Streamlit renders these proto fields as markdown; options and values are plain text.
MARKDOWN_FIELDS = {"body", "label", "help", "text", "caption", "placeholder"}
LIVE = (
    re.compile(r"(?<!\\)\]\("),  # the "](" of a link or image
    re.compile(r"(?<!\\)!\["),  # an image's "!["
    re.compile(r"(?<!\\)<[a-z]"),  # an HTML tag
)
# GFM finds autolinks in the text once backslash escapes are undone (remark-gfm's
# autolink literal runs on text nodes): "http\://x" still is one, in a browser.
AUTOLINK = re.compile(r"https?://|www\.|[\w.+-]+@[\w-]+\.\w", re.IGNORECASE)


def unescaped(text: str) -> str:
    """The text a markdown renderer sees after CommonMark's backslash escapes."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


# One hostile value per page, in a setting the page reads from the URL (besides ?lang=).
PAGE_SETTINGS = {
    "app.py": {"lam": LINK},
    "pages/architecture.py": {"depth": LINK, "block": IMAGE},
    "pages/feature_maps.py": {"weights": LINK},
    "pages/cost.py": {"depth": LINK, "width": IMAGE},
    "pages/lab.py": {"preset": LINK, "steps": IMAGE, "folder": LINK},
}


def markdown_texts(at: AppTest) -> list[str]:
    """Every markdown-rendered string the run sent, main area and sidebar."""
    texts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            texts.extend(v for f, v in proto.ListFields() if f.name in MARKDOWN_FIELDS and isinstance(v, str))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return texts


def assert_shown_inert(at: AppTest, what: str) -> None:
    """The hostile text is on the page (so the check is not vacuous), with no live syntax."""
    hostile = [text for text in markdown_texts(at) if HOST in text]
    assert hostile, f"{what}: the hostile value is not shown at all"
    for text in hostile:
        for pattern in LIVE:
            assert not pattern.search(text), f"{what}: live markdown {pattern.pattern!r} in {text!r}"
        assert not AUTOLINK.search(unescaped(text)), f"{what}: an autolink in {text!r}"


@pytest.mark.parametrize("page", sorted(PAGE_SETTINGS))
def test_hostile_url_values_are_shown_as_text(page):
    at = open_page(page, timeout=240, lang=IMAGE, **PAGE_SETTINGS[page])
    assert_shown_inert(at, page)
    warnings = " ".join(w.value for w in at.warning)
    assert md_escape(IMAGE) in warnings and md_escape(LINK[:40]) in warnings  # the notice names each value


def test_a_hostile_weights_file_name_is_shown_as_text(tmp_path, monkeypatch):
    """The operator's weights folder: a file name is the model's source in the caption."""
    name = f"[Login here]({HOST}).safetensors"  # a file name cannot hold "/", it needs none
    source = shipped.shipped_models()[0]
    shutil.copy(source, tmp_path / name)
    monkeypatch.setenv("RESNET_LAB_WEIGHTS_DIR", str(tmp_path))
    at = open_page("pages/feature_maps.py", lang="en", weights="local", file=name)
    assert not at.error, [e.value for e in at.error]
    assert_shown_inert(at, "feature maps, weights file")


def test_a_hostile_data_folder_name_is_shown_as_text(tmp_path, monkeypatch):
    """The operator's data directory (here without data sets) is named in the lab's form."""
    root = tmp_path / f"![t]({HOST}?x)"
    root.mkdir()
    monkeypatch.setenv("RESNET_LAB_DATA_DIR", str(root))
    at = open_page("pages/lab.py", timeout=240, lang="en")
    assert_shown_inert(at, "lab, data folder")
    assert not any(str(tmp_path) in text for text in markdown_texts(at))  # its name, not the server's path


def test_the_helpers():
    assert md_escape(LINK) == "\\[Login here\\]\\(http\\:\u2060//evil.example/phish\\)"
    assert md_escape("two\nlines # not a heading") == "two lines # not a heading"
    assert md_escape("ResNet-56 A λ=2, lr 1e-06") == "ResNet-56 A λ=2, lr 1e-06"  # labels and numbers read the same
    assert md_escape("see www.evil.example, a@evil.example") == "see www\u2060.evil.example, a\\@\u2060evil.example"
    assert not AUTOLINK.search(unescaped(md_escape(f"http://{HOST} https://{HOST} www.{HOST} a@{HOST}")))
    assert hide_paths("cannot open /home/t/.resnet_lab/runs.sqlite3: disk full (see https://x.org/a/b)") == \
        "cannot open runs.sqlite3: disk full (see https://x.org/a/b)"
    assert safe_reason(OSError(2, "No such file", "/srv/data/cats")) == r"\[Errno 2\] No such file\: 'cats'"


def test_a_hostile_folder_name_is_text_in_chart_legends_too(tmp_path):
    """Plotly reads a subset of HTML in labels (<a href>, <b>): a folder's name is escaped there."""
    from resnet.lab.config import TrainConfig
    from resnet.lab.store import RunStore
    from resnet.plots.curves import legend_name

    folder = tmp_path / '<a href="x">win'  # a folder's name cannot hold "/"
    folder.mkdir()
    store = RunStore(tmp_path / "runs.sqlite")
    run_id, _ = store.enqueue(TrainConfig(dataset="folder", data_dir=str(folder), image_size=32))
    name = legend_name(store.get_run(run_id), lambda key, **v: key)
    assert '&lt;a href="x"&gt;win' in name and "<a" not in name
