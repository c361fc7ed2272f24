"""End to end: follow the teacher (issue 24), a teacher's and a student's browser on one server.

The teacher leads a class from the sidebar; the student opens the join link the page shows and
follows a page change and a setting change, leaves ("Explore on my own") and rejoins ("Back to the
class"). How long each follow took (from the teacher's finished run to the student's view) is
printed; the goal (p95 ≤ 2 s with 30 followers) is measured by ``bench/load.py``'s follow round.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench.load import Session, followed, rerun_request

from tests.e2e.test_e2e_classroom import settle
from tests.e2e.test_e2e_lesson_order import HEADINGS, choose, number, selectbox, type_number

pytestmark = pytest.mark.e2e

FOLLOWING = "Following the teacher: this page changes when theirs does."
EXPLORING = "You are exploring on your own; the class goes on."


@pytest.fixture
def two(browser):
    """A teacher's and a student's browser (separate contexts: separate sessions, as two machines), as tall as the
    ``page`` fixture's: a select near the window's bottom edge scrolls the page as its list opens, which closes it."""
    contexts = [browser.new_context(viewport={"width": 1400, "height": 2400}, locale="en-US") for _ in range(2)]
    pages = [context.new_page() for context in contexts]
    for page in pages:
        page.set_default_timeout(90_000)
    yield pages
    for context in contexts:
        context.close()


def teacher_goes(teacher: Page, menu: str) -> float:
    """The teacher's click on a sidebar link; the time their run finished (the class has the change then)."""
    teacher.get_by_test_id("stSidebar").get_by_role("link", name=menu).click()
    expect(teacher.get_by_role("heading", name=HEADINGS[menu])).to_be_visible()
    settle(teacher)
    return time.monotonic()


def test_a_student_follows_the_teacher_leaves_and_rejoins(server, two):
    teacher, student = two
    teacher.goto(f"{server}/architecture?lang=en")
    settle(teacher)
    teacher.get_by_test_id("stSidebar").get_by_role("button", name="Lead the class").filter(visible=True).click()
    bar = teacher.locator(".st-key-class_bar")
    expect(bar.get_by_text("You lead class")).to_be_visible()
    link = bar.get_by_test_id("stCode").inner_text().strip()
    assert link.startswith(server) and "?class=" in link
    expect(bar.get_by_role("img")).to_be_visible()  # the QR code

    student.goto(link)
    expect(student.get_by_text(FOLLOWING)).to_be_visible()
    expect(student.get_by_role("heading", name=HEADINGS["Architecture"])).to_be_visible()  # where the teacher is

    took = {}
    start = teacher_goes(teacher, "Compute cost")
    expect(student.get_by_role("heading", name=HEADINGS["Compute cost"])).to_be_visible()
    took["page change"] = time.monotonic() - start
    expect(student.get_by_text(FOLLOWING)).to_be_visible()

    choose(teacher, "Depth", "ResNet-101")
    expect(selectbox(teacher, "Depth")).to_have_value("ResNet-101")
    settle(teacher)
    start = time.monotonic()
    expect(selectbox(student, "Depth")).to_have_value("ResNet-101")
    took["setting change"] = time.monotonic() - start

    student.get_by_role("button", name="Explore on my own").click()
    expect(student.get_by_text(EXPLORING)).to_be_visible()
    assert "class=" not in student.url  # a reload would not follow again
    type_number(teacher, "Batch size", 2)
    expect(number(teacher, "Batch size")).to_have_value("2")
    settle(teacher)
    expect(number(student, "Batch size")).to_have_value("10")  # on their own

    student.get_by_role("button", name="Back to the class").click()
    expect(student.get_by_text(FOLLOWING)).to_be_visible()
    expect(number(student, "Batch size")).to_have_value("2")  # the teacher's view again
    expect(selectbox(student, "Depth")).to_have_value("ResNet-101")
    expect(student.get_by_test_id("stException")).to_have_count(0)
    print("follow took " + ", ".join(f"{what} {seconds:.2f} s" for what, seconds in took.items()))


def test_the_load_benchs_followers_follow_a_teacher_over_the_protocol(server):
    """bench/load.py's follow round, in small: protocol-level sessions (after their first request they send only
    their fragments' ticks, as the browser does) follow a teacher's page change and setting change."""
    port = int(server.rsplit(":", 1)[1])

    async def round_() -> tuple[list, list]:
        teacher = Session(port)
        await teacher.open("architecture", "lang=en")
        lead = teacher.widget("button", "Lead the class")
        await teacher.run(widgets=(WidgetState(id=lead.id, trigger_value=True),))
        code = teacher.code_text("?class=").rsplit("class=", 1)[1]
        followers = [Session(port) for _ in range(2)]
        await asyncio.gather(*(f.open("", f"lang=en&class={code}") for f in followers))
        joined = await followed(followers, 0.0, teacher.page_hash, (), timeout=120)
        await teacher.run("cost", "lang=en")
        moved = await followed(followers, teacher.runs[-1][0], teacher.page_hash, (), timeout=120)
        await teacher.run(widgets=(WidgetState(id=teacher.widget("number_input", "Batch size").id, int_value=3),))
        set_ = await followed(followers, teacher.runs[-1][0], teacher.page_hash, ("batch=3",), timeout=120)
        errors = [e for s in [teacher, *followers] for e in s.errors]
        await asyncio.gather(*(s.close() for s in [teacher, *followers]))
        return [joined, moved, set_], errors

    # In a thread of its own: the browser tests' Playwright keeps an event loop on this one.
    with ThreadPoolExecutor(1) as thread:
        steps, errors = thread.submit(asyncio.run, round_()).result()
    assert not errors
    assert all(t is not None for step in steps for t in step), steps  # each follower reached each view


class Announced(Session):
    """A protocol session that also records the page each run the server starts announces (new_session)."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.announced: list[str] = []
        self.navigated = asyncio.Event()  # set at each full run's start (its navigation message)

    def _handle(self, msg: ForwardMsg) -> None:
        if msg.WhichOneof("type") == "new_session":
            self.announced.append(msg.new_session.page_script_hash)
        super()._handle(msg)
        if msg.WhichOneof("type") == "navigation":
            self.navigated.set()


def test_a_tick_sent_for_the_page_a_follower_is_leaving_does_not_bring_it_back(server):
    """A follower's move (st.switch_page in its tick) races the browser's next tick, sent before the browser
    learnt of the move: it reaches the server while the new page runs, naming the page left. Streamlit ran it
    once the new page was drawn, announcing the old page: the browser's app unmounted (a white tab, in CI).
    Here the stale tick is sent the moment the new page's run starts; the server must drop it
    (pages/common/stale_ticks.py): nothing it runs after the move announces the old page."""
    port = int(server.rsplit(":", 1)[1])

    async def round_() -> tuple[list[str], str, list]:
        teacher = Session(port)
        await teacher.open("architecture", "lang=en")
        lead = teacher.widget("button", "Lead the class")
        await teacher.run(widgets=(WidgetState(id=lead.id, trigger_value=True),))
        code = teacher.code_text("?class=").rsplit("class=", 1)[1]
        student = Announced(port)
        await student.open("", f"lang=en&class={code}")
        assert (await followed([student], 0.0, teacher.page_hash, (), timeout=120))[0] is not None
        for tick in student._ticks.values():  # the test sends this tab's ticks itself, at the racy moment
            tick.cancel()
        old_page, old_name, old_query = student.page_hash, student.page_name, student.query
        old_ticks = list(student._ticks)  # the page's fragments with a timer: the class bar's look at the class
        await teacher.run("cost", "lang=en")
        new_page = teacher.page_hash
        student.navigated.clear()
        for fragment in old_ticks:  # the look that finds the teacher's move: to the cost page
            await student.send(fragment_id=fragment)
        await asyncio.wait_for(student.navigated.wait(), 120)  # the cost page's run has started
        since = len(student.announced)
        for fragment in old_ticks:  # the ticks the browser had sent meanwhile, naming the page it showed
            await student.ws.send(rerun_request(old_name, old_query, f"{student.base}/{old_name}?{old_query}",
                                                old_page, (), fragment))
        arrived = await followed([student], 0.0, new_page, (), timeout=120)
        done = len(student.runs)
        await student.run()  # one more full run of the page it is on, so anything queued before it has run
        assert len(student.runs) == done + 1
        after = student.announced[since:]
        errors = [*teacher.errors, *student.errors]
        await asyncio.gather(teacher.close(), student.close())
        return after, new_page if arrived[0] is not None else "", errors

    with ThreadPoolExecutor(1) as thread:
        after, new_page, errors = thread.submit(asyncio.run, round_()).result()
    assert new_page and not errors
    assert after and set(after) == {new_page}, f"after the move the server announced {after}, not only {new_page}"
