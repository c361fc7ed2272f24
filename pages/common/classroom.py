"""Follow the teacher: a teacher's session leads a class, the students' sessions follow its view.

The teacher presses "Lead the class" (sidebar, ``roles.may_lead()``): the store makes a class
(``resnet.lab.store.classes``) and the page shows its code, a join link (the app's address +
``?class=<code>``) and the link's QR code. At the end of each of the teacher's page runs
(``ui.sync_url``) the page's script file and its share link's settings are published, when
they changed. A slow fragment is the teacher's sign of life while the tab is open.

A student who opens the join link follows: a small fragment looks at the class every
``FOLLOW_TICK_S`` (through a per-process cache that asks the store at most every
``READ_EVERY_S`` per class, however many sessions look) and, when the version moved, brings
the browser to the teacher's view exactly as a share link opens it: the page's kept settings
are dropped, so the URL's seed them (``ui.url_setting``), then ``st.switch_page``. Followers' page runs
take turns (``turns``), so their looks fall out of step.

Everything is drawn in one keyed slot at the top of the main area, made on every run of
every page (``class_bar``), so the banner showing or not moves nothing below it.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qsl, urlencode

import segno
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from pages.common import predictions, roles, ui
from pages.common.shared_reads import SharedReads
from resnet.i18n import Translator
from resnet.lab.store import ClassView, StoreError, opened_store, store_address
from resnet.lab.store.classes import valid_code

# a follower looks at the class this often: the teacher's change shows within about this. Followers in turns
# (turns.py) look out of step, each look paid on its own: 1.0 s cost 8.9-9.2 % of a core idle with 30 (goal 10),
# 1.25 s 7.6 %, for a p95 of 1.0 vs 1.4 s (goal 2; bench/load.py, 2026-12-08)
FOLLOW_TICK_S = 1.25
READ_EVERY_S = 0.5  # a class is read from the store at most this often per server process
KEEP_ALIVE_S = 60.0  # the teacher's tab says it is open this often (the class ends after 30 minutes of silence)
QR_SCALE = 8  # pixels per QR module: a join link's code (about 33 modules and its margin) is about 330 px wide
PARAM = "class"  # the join link's query parameter
# the page each script file is (the prefix of its settings' keys, from page_setup's title key)
PAGE_OF_FILE = {"app.py": "why", "pages/architecture.py": "arch", "pages/feature_maps.py": "fm", "pages/cost.py": "cost",
                "pages/lab.py": "lab"}

_LEAD = "_class_lead"  # the code of the class this session leads
_PUBLISHED = "_class_published"  # (page, query) this session last published
_FOLLOW = "_class_follow"  # the code of the class this session follows
_SEEN = "_class_seen"  # the class's version this session last went to
_LEFT = "_class_left"  # the code of the class this session left to explore on its own
_CHECKED = "_class_checked"  # the URL's class code already looked at (joined, or refused)
_NOTE = "_class_note"  # a catalog key to say once at the top ("class.ended", "class.unknown"…)
_JUST_LED = "_class_just_led"  # the class was opened on this run: its join link and QR shown unfolded
_ARRIVING = "_class_arriving"  # (page, settings, tries) the last move went to: the next page run checks it got there
ARRIVE_TRIES = 3  # moves to one view at most (a move a tick's stale request undid is made again)


_READS: SharedReads[ClassView | None] = SharedReads(READ_EVERY_S)  # (store, code) → the class as last read


def read_class(code: str) -> ClassView | None:
    """The class ``code`` (None: unknown), read from the store at most every ``READ_EVERY_S`` per process,
    once for every follower session of the server."""
    address = store_address()
    return _READS.get((address, code), lambda: opened_store(address).class_view(code))


def _forget_read(code: str) -> None:
    _READS.forget((store_address(), code))


def _current_view() -> tuple[str, str]:
    """This session's page (script file) and settings (the share link's query string, without ``class``)."""
    page = next((file for file, prefix in PAGE_OF_FILE.items() if prefix == st.session_state.get(ui._PAGE)), "app.py")
    return page, urlencode({k: v for k, v in st.query_params.to_dict().items() if k != PARAM})


def join_link(code: str) -> str:
    """The app's address (without the page's path and settings) + ``?class=<code>``."""
    base = (st.context.url or "").split("?")[0].rstrip("/")
    for _, path, _, _ in ui.PAGES:
        if path and base.endswith("/" + path):
            base = base[: -len(path) - 1]
    return f"{base}/?{urlencode({PARAM: code})}"


def qr_png(link: str) -> bytes:
    """The link's QR code as a PNG (black on white, with its quiet zone)."""
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="png", scale=QR_SCALE, border=4)
    return out.getvalue()


# --- The teacher ---


def _lead() -> None:
    """"Lead the class": a new class on this session's current view."""
    page, query = _current_view()
    try:
        st.session_state[_LEAD] = opened_store(store_address()).open_class(roles.session_hash(), page, query)
        st.session_state[_PUBLISHED] = (page, query)
        st.session_state[_JUST_LED] = True
    except StoreError as exc:
        st.session_state[_NOTE] = ("class.store_error", ui.safe_reason(exc))


def _end() -> None:
    """"End the class": its followers stop following."""
    code = st.session_state.pop(_LEAD, None)
    st.session_state.pop(_PUBLISHED, None)
    if code is not None:
        try:
            opened_store(store_address()).end_class(code, roles.session_hash())
        except StoreError as exc:
            st.session_state[_NOTE] = ("class.store_error", ui.safe_reason(exc))
            return
        _forget_read(code)
        st.session_state[_NOTE] = ("class.ended_by_you", "")


def lead_button(t: Translator) -> None:
    """The sidebar's "Lead the class", for a session that may lead and leads none yet."""
    if roles.may_lead() and _LEAD not in st.session_state:
        st.button(t("class.lead"), key="_class_lead_button", icon="🎓", on_click=_lead, help=t("class.lead_help"))


def publish() -> None:
    """The leading session's page and settings to its class, when they changed (end of every page run)."""
    code = st.session_state.get(_LEAD)
    if code is None:
        return
    view = _current_view()
    if st.session_state.get(_PUBLISHED) == view:
        return
    try:
        version = opened_store(store_address()).publish_view(code, roles.session_hash(), *view)
    except StoreError:
        return  # said by the teacher's bar on its next draw (its keep-alive reads the store too)
    if version is None:  # over: timed out (the tab was closed that long), or ended elsewhere
        st.session_state.pop(_LEAD, None)
        st.session_state[_NOTE] = ("class.timed_out", "")
        return
    st.session_state[_PUBLISHED] = view
    _forget_read(code)  # this process's followers see it at their next tick


def _keep_alive(t: Translator, code: str) -> None:
    """The teacher's status line, and the class's sign of life every ``KEEP_ALIVE_S`` while the tab is open."""
    try:
        alive = opened_store(store_address()).keep_class(code, roles.session_hash()) is not None
    except StoreError as exc:
        st.warning(t("class.store_error", reason=ui.safe_reason(exc)), icon="⚠️")
        return
    if not alive:
        st.session_state.pop(_LEAD, None)
        st.session_state[_NOTE] = ("class.timed_out", "")
        st.rerun(scope="app")  # once, at the class's end: the bar goes
    st.markdown(t("class.leading", code=code))


def _teacher_bar(t: Translator, code: str) -> None:
    st.fragment(run_every=KEEP_ALIVE_S)(_keep_alive)(t, code)
    link = join_link(code)
    # open once, to project the code; then folded, so the page's own settings stay high on the screen (a select
    # near the bottom edge of a projector's window closes as it opens: its list scrolls the page)
    with st.expander(t("class.join"), expanded=st.session_state.pop(_JUST_LED, False)):
        words, picture = st.columns([3, 2])
        words.markdown(t("class.join_help"))
        words.code(link, language=None, wrap_lines=True)
        words.button(t("class.end"), key="_class_end", icon="⏹️", on_click=_end)
        picture.image(qr_png(link), caption=t("class.qr"))  # its own size: whole pixels per module, sharp on a projector
    predictions.teacher_panel(t, opened_store(store_address()), code, _current_view()[0])  # ask the class, see answers, reveal


# --- The students ---


def _join_from_url() -> None:
    """A join link's ``?class=`` code, looked at once per session and code: follow it, or say why not."""
    raw = st.query_params.get(PARAM)
    if raw is None or raw == st.session_state.get(_CHECKED) or raw == st.session_state.get(_LEAD):
        return
    st.session_state[_CHECKED] = raw
    if not valid_code(raw):  # checked before any store query
        st.session_state[_NOTE] = ("class.unknown", "")
        return
    try:
        view = read_class(raw)
    except StoreError as exc:
        st.session_state[_NOTE] = ("class.store_error", ui.safe_reason(exc))
        return
    if view is None or view.ended:
        st.session_state[_NOTE] = ("class.unknown" if view is None else "class.ended", "")
        return
    _follow(raw)


def following() -> bool:
    """Whether this session follows a class now (its page runs take turns with the other followers': ``turns``)."""
    return st.session_state.get(_FOLLOW) is not None


def _follow(code: str) -> None:
    """Follow the class ``code`` (from the join link, or "Back to the class"): to its view at the next look."""
    st.session_state[_FOLLOW] = code
    st.session_state.pop(_SEEN, None)
    st.session_state.pop(_LEFT, None)


def _explore() -> None:
    """"Explore on my own": stop following, stay on this view (a reload does not follow again)."""
    st.session_state[_LEFT] = st.session_state.pop(_FOLLOW, None)
    st.query_params.pop(PARAM, None)


def _go(view: ClassView) -> None:
    """To the teacher's view, as its share link would open it; the language stays the student's."""
    st.session_state[_SEEN] = view.version
    query = dict(parse_qsl(view.query))
    query["lang"] = st.session_state.get("lang", query.get("lang", "en"))
    query[PARAM] = view.code
    _move(view.page, query, 1)


def _move(page: str, query: dict[str, str], tries: int) -> None:
    """To ``page`` with these settings: the page's kept settings (and the classroom mode) dropped, so the URL's
    seed them, then ``st.switch_page``; the page run that follows checks it got there (``_arrived``)."""
    st.session_state[_ARRIVING] = (page, query, tries)
    ui.drop_settings(PAGE_OF_FILE.get(page, ""))
    st.session_state.pop("classroom", None)
    try:
        st.switch_page(page, query_params=query)
    except StreamlitPageNotFoundError:  # a page file run on its own (AppTest): the page stays
        st.query_params.from_dict(query)


def _arrived() -> None:
    """The page run after a move: on the view it went to, or the move again (at most ``ARRIVE_TRIES``).

    A fragment tick the browser sent before it learnt of the move folds into the move's rerun with the old
    page and query (Streamlit keeps the newer request's), which would leave the follower on the old view.
    """
    arriving = st.session_state.pop(_ARRIVING, None)
    if arriving is None or st.session_state.get(_FOLLOW) is None:
        return
    page, query, tries = arriving
    here = _current_view()[0]
    if (here != page or any(st.query_params.get(k) != v for k, v in query.items())) and tries < ARRIVE_TRIES:
        _move(page, query, tries + 1)


def _check(code: str) -> ClassView | None:
    """The followed class as it is now; None once it is over (then said, and no longer followed)."""
    try:
        view = read_class(code)
    except StoreError as exc:  # the store out of reach: stop following, say why
        st.session_state.pop(_FOLLOW, None)
        st.session_state[_NOTE] = ("class.store_error", ui.safe_reason(exc))
        return None
    if view is None or view.ended:
        st.session_state.pop(_FOLLOW, None)
        st.session_state[_NOTE] = ("class.ended", "")
        st.query_params.pop(PARAM, None)
        return None
    return view


def _follow_tick(t: Translator, code: str) -> None:
    """The follower's look at its class (this fragment ticks every ``FOLLOW_TICK_S`` and draws only the class's
    open question, so a tick costs little): to the teacher's view when it moved; at the class's end, one page run.
    A tick the browser sent before it learnt of a move, naming the page left, is dropped (``stale_ticks``)."""
    view = _check(code)
    if view is None:
        st.rerun(scope="app")  # once, at the class's end: the banner says so and stops ticking
    if view.version > st.session_state.get(_SEEN, 0):  # a read older than the last move is no move back
        _go(view)
    predictions.student_panel(t, opened_store(store_address()), code)  # the open question; redrawn at each tick


def _follower_bar(t: Translator) -> None:
    """The follower's banner, drawn by the page run: "Following" with "Explore on my own" (and the ticking
    look at the class), or, after it, "Back to the class"."""
    words, button = st.columns([2, 1], vertical_alignment="center")
    if (code := st.session_state.get(_FOLLOW)) is not None:
        words.info(t("class.following"), icon="👀")
        button.button(t("class.explore"), key="_class_explore", icon="🧭", on_click=_explore)
        st.fragment(run_every=FOLLOW_TICK_S)(_follow_tick)(t, code)
    elif (left := st.session_state.get(_LEFT)) is not None:
        words.info(t("class.exploring"), icon="🧭")
        button.button(t("class.back"), key="_class_back", icon="👀", on_click=_follow, args=(left,))


def class_bar(t: Translator) -> None:
    """The classroom slot at the top of the main area, drawn on every page run (keyed, always at that place):
    a note once, the teacher's class (code, join link, QR, End), or the follower's banner."""
    _arrived()
    _join_from_url()
    with st.container(key="class_bar"):
        if (note := st.session_state.pop(_NOTE, None)) is not None:
            key, reason = note
            (st.info if key in ("class.ended_by_you",) else st.warning)(t(key, reason=reason), icon="🎓")
        if (code := st.session_state.get(_LEAD)) is not None:
            _teacher_bar(t, code)
        elif st.session_state.get(_FOLLOW) is not None or st.session_state.get(_LEFT) is not None:
            _follower_bar(t)
