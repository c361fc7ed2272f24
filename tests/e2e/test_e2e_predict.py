"""End to end: predict, then see (issue 24), a teacher's and a student's browser on one server.

The teacher leads a class and opens a question; the student, following the join link, answers it
with a click; the answer is counted on the teacher's live chart; the teacher reveals, and the student
sees the measured result beside the class's answers, the supported choice marked.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from resnet.i18n import Translator
from resnet.lab.predictions import QUESTIONS
from tests.e2e.test_e2e_class import FOLLOWING, two  # noqa: F401  (the two browsers fixture)
from tests.e2e.test_e2e_classroom import settle
from tests.e2e.test_e2e_lesson_order import HEADINGS, selectbox

pytestmark = pytest.mark.e2e


def test_a_prediction_is_answered_counted_and_revealed(server, two):  # noqa: F811
    t = Translator("en")
    q = QUESTIONS["degradation"]
    reveal = q.reveal(t)
    answer, supported = t(q.choice_key(1)), t(q.choice_key(reveal.supported))
    teacher, student = two
    teacher.goto(f"{server}/cost?lang=en")  # a page of no question: the teacher picks among all
    settle(teacher)
    teacher.get_by_test_id("stSidebar").get_by_role("button", name="Lead the class").filter(visible=True).click()
    bar = teacher.locator(".st-key-class_bar")
    expect(bar.get_by_text("You lead class")).to_be_visible()
    link = bar.get_by_test_id("stCode").inner_text().strip()

    bar.get_by_text(t("predict.teacher.title")).click()  # the panel opens on demand
    bar.get_by_text(t("predict.teacher.scope.all"), exact=True).click()
    # the first question (degradation) is picked as soon as the list holds every question
    expect(selectbox(teacher, t("predict.teacher.pick"))).to_have_value(t("predict.degradation.title"))
    bar.get_by_role("button", name=t("predict.teacher.open")).filter(visible=True).click()
    expect(bar.get_by_text(t("predict.chart.count", choice=answer, n=0), exact=False)).to_be_visible()

    student.goto(link)
    expect(student.get_by_text(FOLLOWING)).to_be_visible()
    # on the teacher's page first: the join link opens the home page, and the first tick goes to the teacher's
    expect(student.get_by_role("heading", name=HEADINGS["Compute cost"])).to_be_visible()
    panel = student.locator(".st-key-predict_student")
    expect(panel.get_by_text(t("predict.student.title"))).to_be_visible()
    panel.get_by_role("button", name=answer, exact=True).click()
    expect(panel.get_by_text(f"Your answer is in: {answer}.")).to_be_visible()
    expect(panel.get_by_role("button")).to_have_count(0)  # one answer per session

    expect(bar.get_by_text(t("predict.chart.count", choice=answer, n=1), exact=False)).to_be_visible()  # counted live
    bar.get_by_role("button", name=t("predict.teacher.reveal")).filter(visible=True).click()
    expect(bar.get_by_text(f"The measurement supports: {supported}.")).to_be_visible()

    expect(panel.get_by_text(t("predict.student.revealed"))).to_be_visible()
    expect(panel.get_by_text(f"The measurement supports: {supported}.")).to_be_visible()
    expect(panel.get_by_text(f"Your prediction was: {answer}.")).to_be_visible()
    expect(panel.get_by_text(t("predict.chart.marked"), exact=False).first).to_be_visible()
    for page in (teacher, student):
        expect(page.get_by_test_id("stException")).to_have_count(0)
