"""Shared Streamlit helpers: page set-up, the sidebar, language, URL-bound settings.

Every page calls ``page_setup`` first, so a page file also runs on its own (AppTest
``from_file``) with the same sidebar and state as under ``app.py``'s navigation.
Settings live in ``st.query_params`` so a link opens on exactly the same view; values
from the URL are validated and fall back to the default with a visible notice.

Each page owns its settings: the widget state of ``?depth=`` on the Architecture page
is ``st.session_state["arch.depth"]``, on the Feature maps page ``"fm.depth"``, so moving
through the sidebar never carries one page's value (or range) into another. Only the
language and classroom mode are shared, on purpose. Streamlit drops a widget's state
once a run does not draw it (any other page's run), so every setting is also kept aside
and a page opened again from the menu finds its settings as it left them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from resnet.i18n import LANGS, Translator, lang_from_locale

LANG_NAMES = {"en": "English", "zh": "中文"}
_NOTICES = "_url_notices"
_PAGE = "_page"  # the page whose script is running in this session (set by page_setup)
_KEPT = "_settings"  # "<page>.<name>" → that setting's last value, for the page's next visit

# The pages in lesson order: (file, url path, catalog key of the title, icon). Streamlit
# finds pages/*.py itself (classic multipage app, URL path = file name); its own
# untranslated menu is hidden in .streamlit/config.toml and page_setup draws this one.
PAGES = [
    ("app.py", "", "nav.why", "💡"),
    ("pages/architecture.py", "architecture", "nav.architecture", "🧱"),
    ("pages/feature_maps.py", "feature_maps", "nav.feature_maps", "🔬"),
    ("pages/cost.py", "cost", "nav.cost", "🧮"),
    ("pages/lab.py", "lab", "nav.lab", "🧪"),
]


def language() -> str:
    """The session's language: chosen in the sidebar, else ``?lang=``, else the browser's."""
    if "lang" not in st.session_state:
        raw = st.query_params.get("lang")
        if raw in LANGS:
            st.session_state["lang"] = raw
        else:
            st.session_state["lang"] = lang_from_locale(st.context.locale)
            if raw is not None:
                _notice("lang", raw)
    return st.session_state["lang"]


def _notice(name: str, raw: str) -> None:
    st.session_state.setdefault(_NOTICES, []).append((name, raw))


def _set_lang() -> None:
    st.session_state["lang"] = st.session_state["_lang_choice"]


def classroom() -> bool:
    """Presenter mode: larger text, advanced controls hidden, one idea per screen.

    Set by the sidebar toggle or ``?classroom=1`` in the URL (so a class opens on it).
    """
    if "classroom" not in st.session_state:
        raw = st.query_params.get("classroom")
        if raw not in (None, "0", "1"):
            _notice("classroom", raw)
        st.session_state["classroom"] = raw == "1"
    return st.session_state["classroom"]


def _set_classroom() -> None:
    st.session_state["classroom"] = st.session_state["_classroom_choice"]


# Presenter mode: everything readable from the back of a classroom.
_CLASSROOM_CSS = """<style>
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li { font-size: 1.3rem !important; }
[data-testid="stMainBlockContainer"] h1 { font-size: 3rem !important; }
[data-testid="stMainBlockContainer"] h2 { font-size: 2.2rem !important; }
[data-testid="stMainBlockContainer"] [data-testid="stMetricValue"] * { font-size: 3rem !important; }
.js-plotly-plot .main-svg text { font-size: 15px !important; }
</style>"""


def page_setup(title_key: str) -> Translator:
    """Configure the page, draw the shared sidebar, return the translator.

    The title key's prefix ("arch" of "arch.title") names the page: its settings are
    kept under ``"<page>.<name>"`` (see ``setting_key``).
    """
    st.session_state[_PAGE] = title_key.split(".")[0]
    t = Translator(language())
    st.set_page_config(page_title=f"{t(title_key)} · ResNet Lab", page_icon="🧠", layout="wide")
    with st.sidebar:
        st.markdown(f"### 🧠 ResNet Lab\n{t('sidebar.tagline')}")
        for file, _, key, icon in PAGES:
            try:
                st.page_link(file, label=t(key), icon=icon, query_params={"lang": t.lang})
            except StreamlitPageNotFoundError:  # a page file run on its own (AppTest)
                break
        st.radio(
            "Language / 语言", LANGS, index=LANGS.index(t.lang), format_func=LANG_NAMES.get,
            key="_lang_choice", on_change=_set_lang, horizontal=True,
        )
        st.toggle(t("sidebar.classroom"), value=classroom(), key="_classroom_choice", on_change=_set_classroom,
                  help=t("sidebar.classroom_help"))
        # filled by sync_url at the end of the run, once the page has written its settings
        share = st.expander(t("sidebar.share"))
        share.caption(t("sidebar.share_help"))
        st.session_state["_share_slot"] = share.empty()
    if classroom():
        st.markdown(_CLASSROOM_CSS, unsafe_allow_html=True)
        st.query_params["classroom"] = "1"
    else:
        st.query_params.pop("classroom", None)
    st.query_params["lang"] = t.lang
    return t


def share_link() -> str:
    """The link that reopens the current view: this page's address and its settings."""
    base = (st.context.url or "").split("?")[0]
    return f"{base}?{urlencode(st.query_params.to_dict())}"


def setting_key(name: str) -> str:
    """The session-state key of this page's setting ``name``: ``"<page>.<name>"``."""
    return f"{st.session_state.get(_PAGE, 'page')}.{name}"


def url_setting(
    name: str,
    default: Any,
    parse: Callable[[str], Any],
    valid: Callable[[Any], bool],
) -> str:
    """Seed this page's widget state ``<page>.<name>`` once; return that key.

    The seed is ``?name=`` if the URL has it, else the value the page had when it was
    left for another page, else ``default``. A URL value that does not parse or is not
    ``valid`` is replaced by the default and reported by ``show_url_notices``; a kept
    value no longer valid (``valid`` may depend on other settings) is dropped quietly.
    Call ``sync_url`` after drawing the widget.
    """
    key = setting_key(name)
    kept = st.session_state.setdefault(_KEPT, {})
    if key not in st.session_state:
        raw = st.query_params.get(name)
        value = default
        if raw is not None:
            ok, parsed = _checked(lambda: parse(raw), valid)
            if ok:
                value = parsed
            else:
                _notice(name, raw)
        elif key in kept:
            ok, previous = _checked(lambda: kept[key], valid)
            if ok:
                value = previous
        st.session_state[key] = value
    kept[key] = st.session_state[key]
    return key


def _checked(make: Callable[[], Any], valid: Callable[[Any], bool]) -> tuple[bool, Any]:
    """(True, value) if ``make()`` gives a value ``valid`` accepts, else (False, None)."""
    try:
        value = make()
        return bool(valid(value)), value
    except (TypeError, ValueError):  # unparsable text; None (a reset channel) against a range
        return False, None


def url_choice(name: str, options: Sequence[Any], default: Any) -> str:
    """``url_setting`` for a value that must be one of ``options`` (same type as default).

    The options may depend on other settings (a shallower net has fewer blocks): a value
    no longer among them is replaced by ``default``.
    """
    key = url_setting(name, default, type(default), lambda v: v in options)
    if st.session_state[key] not in options:
        st.session_state[key] = default
    return key


def url_int(name: str, lo: int, hi: int, default: int) -> str:
    """``url_setting`` for an integer in ``lo..hi``."""
    return url_setting(name, default, int, lambda v: lo <= v <= hi)


def sync_url(*names: str, unused: Iterable[str] = ()) -> None:
    """Write these settings back into the URL (and keep them for the page's next visit), and
    show the link to share.

    A setting this run did not reach (the page stopped at an upload box) stays in the URL as
    it came; the ``unused`` ones, which do not apply to the current view, leave it.
    """
    kept = st.session_state.setdefault(_KEPT, {})
    for name in unused:
        st.query_params.pop(name, None)
    for name in names:
        key = setting_key(name)
        if key not in st.session_state:
            continue
        kept[key] = value = st.session_state[key]
        if value is None:
            st.query_params.pop(name, None)
        else:
            st.query_params[name] = str(value)
    if (slot := st.session_state.get("_share_slot")) is not None:
        slot.code(share_link(), language=None, wrap_lines=True)


def select_on_click(chart: str, key: str, options: Sequence[Any], then: Callable[[], None] | None = None) -> Callable[[], None]:
    """An ``on_select`` callback for the Plotly chart keyed ``chart``: a click on a point whose
    customdata is one of ``options`` sets ``st.session_state[key]`` to it (then calls ``then``)."""
    def on_select() -> None:
        points = st.session_state[chart].selection.points
        picked = points[0].get("customdata") if points else None
        if picked is not None and picked in options:
            st.session_state[key] = options[list(options).index(picked)]  # the option itself: 5, not 5.0
            if then is not None:
                then()
    return on_select


def show_url_notices(t: Translator) -> None:
    """Say which URL values were out of range and replaced by defaults (once)."""
    for name, raw in st.session_state.pop(_NOTICES, []):
        st.warning(t("url.invalid", name=name, value=raw[:40]), icon="⚠️")


def link(page_file: str, label: str, **params: Any) -> None:
    """A link to another page opening on the given settings (and the current language).

    Inside ``app.py``'s navigation it is a client-side ``st.page_link``; when a page
    file runs on its own (AppTest), a plain link to the page's URL path.
    """
    query = {"lang": st.session_state.get("lang", "en"), **{k: str(v) for k, v in params.items()}}
    try:
        st.page_link(page_file, label=label, query_params=query, icon="➡️")
    except StreamlitPageNotFoundError:
        path = next(url for file, url, _, _ in PAGES if file == page_file) or "./"
        st.markdown(f"➡️ [{label}]({path}?{urlencode(query)})")


def stage_name(t: Translator, stage: str) -> str:
    """An anatomy stage ("stem", "stage 3", "head") in the page's language."""
    return t("stage." + stage) if stage in ("stem", "head") else t("stage.n", i=stage.split()[-1])


def setting_slider(where: Any, label: str, name: str, lo: Any, hi: Any, default: Any, step: Any) -> Any:
    """A slider bound to ``?name=`` (int or float, like ``default``), drawn in ``where``."""
    key = url_setting(name, default, type(default), lambda v: lo <= v <= hi)
    return where.slider(label, lo, hi, step=step, key=key)
