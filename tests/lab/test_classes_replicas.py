"""Two app servers sharing one PostgreSQL store: a student on one follows a teacher on the other (issue 24).

The class lives in the store, not in a server: the teacher leads on server A, the student opens
the join link's code on server B, and follows A's page change and setting change there.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from bench.server import HOST, free_port, start_server, stop_server
from resnet.lab.store import ENV_DB_URL
from tests.e2e.test_e2e_classroom import settle
from tests.e2e.test_e2e_lesson_order import HEADINGS, choose, selectbox

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FOLLOWING = "Following the teacher: this page changes when theirs does."


@pytest.fixture
def two_servers(postgres_database, tmp_path, monkeypatch):
    """Two app servers on one throwaway PostgreSQL database (each with its own data folder): their base URLs."""
    monkeypatch.setenv(ENV_DB_URL, postgres_database())
    servers = []
    try:
        for name in ("a", "b"):
            port = free_port()
            servers.append((start_server(port, tmp_path / name, tmp_path / f"{name}.log", wait_s=120), f"http://{HOST}:{port}"))
        yield [url for _, url in servers]
    finally:
        for proc, _ in servers:
            stop_server(proc)


def test_a_student_on_one_server_follows_a_teacher_on_the_other(two_servers, browser):
    on_a, on_b = two_servers
    contexts = [browser.new_context(viewport={"width": 1400, "height": 2400}, locale="en-US") for _ in range(2)]
    try:
        teacher, student = (context.new_page() for context in contexts)
        teacher.goto(f"{on_a}/architecture?lang=en")
        settle(teacher)
        teacher.get_by_test_id("stSidebar").get_by_role("button", name="Lead the class").filter(visible=True).click()
        link = teacher.locator(".st-key-class_bar").get_by_test_id("stCode").inner_text().strip()
        code = parse_qs(urlsplit(link).query)["class"][0]

        student.goto(f"{on_b}/?class={code}")  # the join link, on the other replica
        expect(student.get_by_text(FOLLOWING)).to_be_visible()
        expect(student.get_by_role("heading", name=HEADINGS["Architecture"])).to_be_visible()
        assert student.url.startswith(on_b)

        teacher.get_by_test_id("stSidebar").get_by_role("link", name="Compute cost").click()
        expect(teacher.get_by_role("heading", name=HEADINGS["Compute cost"])).to_be_visible()
        expect(student.get_by_role("heading", name=HEADINGS["Compute cost"])).to_be_visible()
        settle(teacher)
        choose(teacher, "Depth", "ResNet-152")
        expect(selectbox(student, "Depth")).to_have_value("ResNet-152")
        expect(student.get_by_test_id("stException")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()
