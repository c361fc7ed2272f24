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

Text nobody on our side wrote (URL values, file and folder names, run labels, class
names, error reasons) reaches Streamlit's markdown only through ``md_escape`` or
``safe_reason``: ``?lang=![t](http://host/x.png)`` must print those characters, not
make every visitor's browser fetch an image or show a live link in the app's own box.
"""

from __future__ import annotations

import functools
import re
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from pages.common import roles, stale_ticks, turns
from resnet.i18n import LANGS, Translator, lang_from_locale
from resnet.prepare.background import start_warm_up
from resnet.lab import pools
from resnet.lab.store import Artifact, StoreError
from resnet.plots.style import CLASSROOM_SCALE, for_room

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


# Characters that start inline markdown (links and images, emphasis, code, HTML, math,
# tables, Streamlit's :color[…] and :icon: syntax); CommonMark lets each be backslash-escaped. GFM's autolinks (http://…, www.…, a@b.c) are
# found in the text *after* escapes are undone, so an invisible word joiner (U+2060) goes
# into "://", "www." and after "@". "#", "-", "+" and "1." mean something only at the
# start of a line, where these values never stand (and make no link or image there).
_MARKDOWN_INLINE = re.compile(r"([\\`*_{}\[\]()<>!|~$:@&])")
_AUTOLINK = re.compile(r"(\\:)(?=//)|(www)(?=\.)|(\\@)", re.IGNORECASE)
_WORD_JOINER = "\u2060"
# An absolute path (POSIX or Windows) not inside a URL: shown as its last part only.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])(?:[A-Za-z]:)?(?:[\\/][^\\/\s'\"]+)+[\\/]([^\\/\s'\"]*)")


def md_escape(text: object) -> str:
    """``text`` as literal markdown, on one line: no link, image, emphasis or HTML can start in it.

    For anything a visitor, an uploaded file or a folder name controls, before it goes
    into ``st.markdown``/``st.warning``/… (directly or as a value of a translated text).
    Numbers and labels read the same ("1e-06", "ResNet-56 λ=2"): only syntax is escaped.
    """
    one_line = " ".join(str(text).split())  # a newline would start a new markdown block
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", one_line)
    return _AUTOLINK.sub(lambda m: m.group(0) + _WORD_JOINER, escaped)


def hide_paths(text: str) -> str:
    """``text`` with every absolute path shortened to its last part (no server paths on screen)."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def safe_reason(problem: object, limit: int = 300) -> str:
    """An error or its reason (from the core, a library, the OS) for a message: paths hidden, escaped."""
    return md_escape(hide_paths(str(problem))[:limit])


# Values the catalogs show as `code` ("the folder `{folder}`"): a code span renders no
# markdown, so they lose only their backticks (a backslash there would show).
_CODE_VALUES = ("env", "folder")


def safe_error(exc: Exception) -> Exception:
    """A copy of a coded error whose text values (file names, reasons, folders) are safe for
    markdown, with no server path in them."""
    safe = type(exc).__new__(type(exc))  # same class (the page picks its texts by it), not re-initialised
    safe.args = (safe_reason(exc, 500),)
    safe.code = getattr(exc, "code", "")
    safe.values = {
        k: (hide_paths(v).replace("`", "'") if k in _CODE_VALUES else safe_reason(v, 500)) if isinstance(v, str) else v
        for k, v in (getattr(exc, "values", None) or {}).items()
    }
    return safe


def _notice(name: str, raw: str) -> None:
    st.session_state.setdefault(_NOTICES, []).append((name, raw))


def _set_lang() -> None:
    if st.session_state.get("_lang_choice") in LANGS:  # see _set_classroom
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
    # A sidebar callback may find its widget's value gone: when a follower's move (st.switch_page in its fragment)
    # folds in a fragment tick the browser sent before it learnt of the move, the page switch carries the old
    # page's widget states and Streamlit may call these callbacks for widgets whose values the switch dropped
    # (seen under load: KeyError on "_lang_choice"). Raising here would stop the new page before it draws.
    if "_classroom_choice" in st.session_state:
        st.session_state["classroom"] = st.session_state["_classroom_choice"]


# Code colours at WCAG AA (≥ 5.4:1 on the code background #f1f1f0): Streamlit's light
# highlighting draws punctuation, operators, numbers and strings at 2.2–3.6:1.
_CODE_COLOURS = " ".join(
    f'[data-testid="stCode"] .token.{token} {{ color: {colour} !important; }}'
    for tokens, colour in ((("keyword", "function", "class-name"), "#0b5cad"), (("punctuation", "comment"), "#5c5f6b"),
                           (("operator",), "#a5440f"), (("string", "boolean", "number"), "#116329"))
    for token in tokens
)


def _css(scale: float) -> str:
    """The page's text sizes at ``scale`` (1 = Streamlit's own, else classroom mode's), as CSS.

    Never truncated: metric labels and link texts wrap instead of ending in "…", and a
    metric's value is sized to its own column (``cqi``: 1 % of its width): at 16 % a
    digit (about half an em) takes 8 %, so twelve characters ("25,557,032 G") fit any column.
    Captions are drawn at full text colour: Streamlit's grey is below WCAG AA's 4.5:1.
    """
    no_ellipsis = "white-space: normal !important; overflow: visible !important; text-overflow: clip !important;"
    css = f"""
[data-testid="stMetric"] {{ container-type: inline-size; }}
[data-testid="stMetric"] [data-testid="stMetricValue"], [data-testid="stMetric"] [data-testid="stMetricValue"] * {{ font-size: min({2.25 * scale:.3g}rem, 16cqi) !important; }}
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * {{ {no_ellipsis} }}
[data-testid="stPageLink-NavLink"] span, [data-testid="stPageLink-NavLink"] p {{ {no_ellipsis} line-height: 1.4; }}
[data-testid="stCaptionContainer"] {{ color: inherit !important; opacity: 1 !important; }}
{_CODE_COLOURS}
"""
    if scale != 1:
        main = '[data-testid="stMainBlockContainer"]'
        css += f"""
{main} p, {main} li, {main} [data-testid="stMetricLabel"] * {{ font-size: {scale:.3g}rem !important; }}
{main} [data-testid="stCaptionContainer"] p {{ font-size: {0.875 * scale:.3g}rem !important; }}
{main} h1 {{ font-size: {2.3 * scale:.3g}rem !important; }}
{main} h2 {{ font-size: {1.7 * scale:.3g}rem !important; }}
{main} h3 {{ font-size: {1.35 * scale:.3g}rem !important; }}
"""
    return f"<style>{css}</style>"


def room_scale() -> float:
    """How much larger text, figures and metrics are drawn: ``CLASSROOM_SCALE`` in classroom mode, else 1."""
    return CLASSROOM_SCALE if classroom() else 1.0


def chart(fig: Any, summary: str, **kwargs: Any) -> Any:
    """Draw a Plotly figure at the room's scale with its one-line text summary under it.

    The summary (what the chart shows and its key number, already translated; escape any
    user text in it) is what a screen reader reads and what a student who cannot see the
    colours reads. ``kwargs`` go to ``st.plotly_chart``; returns its selection event.
    """
    event = st.plotly_chart(for_room(fig, room_scale()), **kwargs)
    st.caption(summary)
    return event


def measurement_ready(artifact: Artifact, t: Translator, *, measuring: str, key: str, cancel: Callable[..., None],
                      again: Callable[..., None], args: tuple = ()) -> bool:
    """A stored measurement that is not ready, drawn: while a task process computes it, its progress and a
    Cancel button (``{key}_cancel``); cancelled or failed, why and "Measure again" (``{key}_again``).
    True when its result is there to draw."""
    if artifact.status == "running":
        bar, button = st.columns([6, 1], vertical_alignment="center")
        bar.progress(artifact.progress, text=measuring)
        shared = roles.may_cancel_shared()  # every visitor watches the same measurement: a student cannot stop it
        button.button(t("why.measure_cancel"), key=f"{key}_cancel", icon="⏹️", on_click=_cancel_shared, args=(cancel, *args),
                      disabled=not shared, help=None if shared else t("roles.shared_cancel"))
        return False
    if artifact.status != "done" or not artifact.payload:
        st.warning(t("why.measure_cancelled") if artifact.status == "cancelled"
                   else t("why.measure_failed", reason=safe_reason(artifact.error or artifact.status)), icon="⚠️")
        st.button(t("why.measure_again"), key=f"{key}_again", icon="🔁", on_click=again, args=args)
        return False
    return True


def _cancel_shared(cancel: Callable[..., None], *args: Any) -> None:
    if roles.may_cancel_shared():  # checked again when pressed, not only when drawn
        cancel(*args)


def variant_option(t: Translator, setting: str, value: str) -> str:
    """A unit or shortcut as every select offers it: its one name (the URL's value, the one runs' labels carry)
    and, as gloss, the paper's name with its figure letter (the shared ``variant.*`` texts):
    "exclusive_gate · exclusive gating (Fig. 2c)", "identity shortcut (Fig. 2a)" (a gloss that starts with the name)."""
    gloss = t(f"variant.{setting}.{value}")
    return gloss if gloss.startswith(value) else f"{value} · {gloss}"


def shared_table(max_entries: int = 64) -> Callable[[Callable[..., list[dict]]], Callable[..., Any]]:
    """Cache a builder of a table's rows (one dict per row; hashable arguments, the language among them) as
    one Arrow table per input, for every session: ``st.dataframe`` draws it as it is, where a DataFrame is
    turned into Arrow on every run (the Architecture page's layer table: ~6 % of the server's time while
    30 followers moved, py-spy). The table is only read: never change it."""
    def wrap(build: Callable[..., list[dict]]) -> Callable[..., Any]:
        @st.cache_resource(show_spinner=False, max_entries=max_entries)
        @functools.wraps(build)
        def cached(*args: Any) -> Any:
            import pandas as pd  # the builders' pages have it loaded already
            import pyarrow as pa

            return pa.Table.from_pandas(pd.DataFrame(build(*args)), preserve_index=False)

        return cached

    return wrap


def count_columns(*labels: str) -> dict[str, Any]:
    """``st.dataframe``'s column_config showing these columns' counts with thousands separators
    (in the reader's locale: 25,557,032), still numbers to sort by."""
    return {label: st.column_config.NumberColumn(format="localized") for label in labels}


def metric_columns(n: int) -> list[Any]:
    """``n`` containers for metrics side by side: one row, or rows of at most three in
    classroom mode, where the larger numbers need the width."""
    per_row = 3 if classroom() else n
    return [column for start in range(0, n, per_row) for column in st.columns(min(per_row, n - start))]


@st.cache_resource(show_spinner=False)
def resume_runs() -> bool:
    """Once per server process, whichever page opens first: workers for the runs a restart left queued.

    Whether it started them. A store that cannot be used stays quiet here: the Training lab says why.
    """
    try:
        return pools.runs_waiting() and bool(pools.pool_for())
    except StoreError:
        return False


@st.cache_resource(show_spinner=False)
def warm_up() -> Future[list[Any]]:
    """Once per server process, from its first page run: Feature maps' slow first steps
    (Paddle's import, the models, the fast path's export and predictors) start in the inference service."""
    return start_warm_up()


def page_setup(title_key: str) -> Translator:
    """Configure the page, draw the shared sidebar, return the translator.

    The title key's prefix ("arch" of "arch.title") names the page: its settings are
    kept under ``"<page>.<name>"`` (see ``setting_key``).
    """
    if classes.following():  # one follower's page run at a time, to its end in sync_url (turns.py: why)
        turns.FOLLOWERS.take(roles.session_token())
    warm_up()
    resume_runs()
    stale_ticks.install()  # once per process: a tick for a page this session left is dropped
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
        roles.sidebar(t)  # with a teacher key: the session's role, and the field that unlocks the teacher
        classes.lead_button(t)
        # filled by sync_url at the end of the run, once the page has written its settings, and only once opened:
        # a code box loads the browser's syntax highlighter, a large part of a page's first open
        share = st.expander(t("sidebar.share"), key="_share_open", on_change="rerun")
        share.caption(t("sidebar.share_help"))
        st.session_state["_share_slot"] = share.empty() if share.open else None
    st.markdown(_css(room_scale()), unsafe_allow_html=True)
    classes.class_bar(t)
    if classroom():
        st.query_params["classroom"] = "1"
    else:
        st.query_params.pop("classroom", None)
    st.query_params["lang"] = t.lang
    return t


def share_link() -> str:
    """The link that reopens the current view: this page's address and its settings."""
    base = (st.context.url or "").split("?")[0]
    return f"{base}?{urlencode({k: v for k, v in st.query_params.to_dict().items() if k != classes.PARAM})}"


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


def drop_settings(page: str) -> None:
    """Forget the page's settings (``"<page>.<name>"``: widget state and kept values), so its next run seeds them from the URL."""
    kept = st.session_state.setdefault(_KEPT, {})
    for key in [k for k in kept if k.startswith(page + ".")]:
        del kept[key]
        st.session_state.pop(key, None)


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


def sync_url(*names: str, unused: Iterable[str] = (), publish: bool = True) -> None:
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
    if publish:  # the last call of a page run: a leading session's class sees this view (the lab publishes its own)
        classes.publish()
    turns.FOLLOWERS.end(roles.session_token())  # a follower's page is drawn: the next one's turn


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
        st.warning(t("url.invalid", name=md_escape(name[:40]), value=md_escape(raw[:40])), icon="⚠️")


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


def setting_slider(where: Any, label: str, name: str, lo: Any, hi: Any, default: Any, step: Any,
                   help: str | None = None) -> Any:
    """A slider bound to ``?name=`` (int or float, like ``default``), drawn in ``where``."""
    key = url_setting(name, default, type(default), lambda v: lo <= v <= hi)
    return where.slider(label, lo, hi, step=step, key=key, help=help)


# Last: the class mode (its slot, lead button and publish) and its prediction panels import this module's helpers back.
from pages.common import classroom as classes  # noqa: E402
