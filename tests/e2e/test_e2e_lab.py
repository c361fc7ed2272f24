"""End to end: the Training lab on the real server, in Debian's headless Chromium.

The runs started here are tiny (ResNet-20 at width 4) or cancelled once seen; each test
uses its own seed, so runs of other tests on the same server never stand in for its own.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

HEADING = "Training lab: shortcut on, off, or ×λ"
# The plotted points of the "Training loss" chart, per legend name (read from Plotly's own data).
POINTS_JS = """() => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        if (el.layout && el.layout.title && (el.layout.title.text || '').includes('Training loss')) {
            const out = {};
            for (const d of el.data) if (d.showlegend !== false) out[d.name] = (d.x || []).length;
            return out;
        }
    }
    return null;
}"""


def points(page: Page) -> dict[str, int]:
    return page.evaluate(POINTS_JS) or {}


def tiny_run_url(server: str, seed: int, steps: int) -> str:
    return f"{server}/lab?lang=en&depth=20&width=4&batch=16&warmup=0&eval={steps}&steps={steps}&seed={seed}"


def queued_id(page: Page) -> int:
    """Press Train and read the run's id from the page's answer (new or shared run)."""
    page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()
    message = page.get_by_text(re.compile(r"(Queued as run|Run) #\d+ \(ResNet-20 A w4\)"))
    expect(message).to_be_visible()
    return int(re.search(r"#(\d+)", message.inner_text()).group(1))


def test_lab_opens_with_reference_curves(server, page):
    page.goto(f"{server}/lab?lang=en")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    page.wait_for_function(f"({POINTS_JS})() !== null")
    # each variant's five seeds drawn as one median line on its band
    assert points(page) == {f"{n} · digits · reference · median of 5 seeds": 120 for n in ("plain-20", "plain-56", "ResNet-20 A", "ResNet-56 A")}
    expect(page.get_by_text("chance level ln 10 = 2.30 (digits)")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    # exports: Plotly's own PNG button on the chart, and the curves as CSV
    expect(page.get_by_role("button", name="Download plot as a PNG").first).to_be_attached()
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"^\W*CSV$")).click()
    rows = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert rows[0] == "run_id,label,step,wall_s,train_loss,test_loss,test_acc" and len(rows) == 1 + 4 * 5 * 120  # every seed
    # the λ = 2 reference run is flagged on the chart and in the run list
    page.get_by_text("Why not 2x?", exact=True).click()
    expect(page.get_by_text("▲ blew up to loss 64 (step 4),")).to_be_visible()
    expect(page.get_by_text(re.compile(r"○ back at chance level from step \d+, and stuck there"))).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").filter(has_text="λ=2")).to_contain_text("stuck at chance")
    expect(page).to_have_url(re.compile(r"preset=why_not_2x"))


def test_a_tiny_run_grows_live_and_can_be_cancelled(server, page):
    page.goto(tiny_run_url(server, seed=101, steps=20_000))
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    run_id = queued_id(page)
    name = f"ResNet-20 A w4 · digits · live #{run_id}"
    page.wait_for_function(f"(({POINTS_JS})() || {{}})[{name!r}] > 0", timeout=60_000)
    first = points(page)[name]
    # the fragment redraws from the store while the worker trains: more points, no reload
    page.wait_for_function(f"(({POINTS_JS})() || {{}})[{name!r}] > {first}", timeout=30_000)
    expect(page.get_by_text(re.compile(rf"#{run_id} ResNet-20 A w4: step \d+/20000"))).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^\W*Cancel$")).click()
    expect(page.get_by_test_id("stDataFrame").filter(has_text=f"#{run_id} ResNet-20 A w4 · digits")).to_contain_text("cancelled", timeout=30_000)
    expect(page.get_by_text("Training now and queued")).to_have_count(0)
    assert first < points(page)[name] < 20_000


def test_two_tabs_pressing_the_same_run_train_it_once(server, browser):
    tabs = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1400, "height": 2400}, locale="en-US")
        tab = context.new_page()
        tab.set_default_timeout(90_000)
        tab.goto(tiny_run_url(server, seed=202, steps=30))
        expect(tab.get_by_role("heading", name=HEADING)).to_be_visible()
        tabs.append((context, tab))
    try:
        first, second = tabs[0][1], tabs[1][1]
        run_id = queued_id(first)
        expect(first.get_by_text(f"Queued as run #{run_id}")).to_be_visible()
        assert queued_id(second) == run_id  # the second tab is shown the first tab's run
        expect(second.get_by_text(f"Run #{run_id} (ResNet-20 A w4) has exactly these settings already")).to_be_visible()
        name = f"ResNet-20 A w4 · digits · live #{run_id}"
        for tab in (first, second):  # one run, one curve, finished in both tabs
            tab.wait_for_function(f"(({POINTS_JS})() || {{}})[{name!r}] === 30", timeout=60_000)
            assert [n for n in points(tab) if "ResNet-20 A w4 · digits · live" in n] == [name]
    finally:
        for context, _ in tabs:
            context.close()


def test_the_custom_form_stays_open_while_its_settings_change(server, page):
    """The form's widgets rerun the page; the expander keeps its own state (it used to follow the
    link's settings and fold up when a setting went back to its default)."""
    page.goto(f"{server}/lab?lang=en")
    page.wait_for_function(f"({POINTS_JS})() !== null")
    expect(page.get_by_text("Measuring every block")).to_have_count(0)  # the first run is over
    form = page.get_by_test_id("stExpander").filter(has_text="Your own run")
    details = form.locator("details")
    expect(details).not_to_have_attribute("open", "")
    details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    for depth in ("56 (CIFAR design)", "20 (CIFAR design)", "32 (CIFAR design)"):  # 20 is the default: it leaves the link
        form.get_by_test_id("stSelectbox").filter(has_text="Depth").click()
        page.get_by_role("option", name=depth, exact=True).click()
        expect(page).to_have_url(re.compile(r"depth=32" if depth.startswith("32") else r"depth=56" if depth.startswith("56") else r"^(?!.*depth=)"))
        expect(details).to_have_attribute("open", "")


# Every queue row (``st-key-run-<id>``) and Cancel button (``st-key-cancel_<id>``) the page holds, counted
# on every change of the page (a MutationObserver) and by a timer: a key seen twice, or an
# expected one missing, is recorded. The live region used to draw a run twice while it redrew.
WATCH_JS = """(expected) => {
    const seen = {bad: [], checks: 0};
    const check = () => {
        const counts = {};
        for (const el of document.querySelectorAll('[class*="st-key-cancel_"], [class*="st-key-run-"]'))
            for (const c of el.classList)
                if (/^st-key-(cancel_|run-)\\d+$/.test(c)) counts[c] = (counts[c] || 0) + 1;
        for (const id of expected)
            for (const key of [`st-key-cancel_${id}`, `st-key-run-${id}`])
                if ((counts[key] || 0) !== 1) seen.bad.push(`${key} x${counts[key] || 0}`);
        for (const [key, n] of Object.entries(counts)) if (n > 1) seen.bad.push(`${key} x${n}`);
        seen.checks += 1;
    };
    new MutationObserver(check).observe(document.body, {childList: true, subtree: true});
    setInterval(check, 25);  // and up to 40 times a second besides (a loaded machine throttles timers)
    window.__labWatch = seen;
}"""
SAMPLE_S = 20


def press_train(page: Page, seed: int) -> int:
    """Set the form's seed and press Train: the new run's id."""
    field = page.get_by_label("Seed", exact=True)
    field.fill(str(seed))
    field.press("Enter")
    expect(page).to_have_url(re.compile(rf"seed={seed}"))
    expect(page.get_by_text(re.compile(r"Queued as run #"))).to_have_count(0)  # the last answer is gone
    return queued_id(page)


def test_the_live_region_holds_still_while_runs_train_and_analyses_compute(server, page):
    """Issue 20: while three runs train and a landscape and diagnostics compute, every run has one row
    and one Cancel button, the whole time, and a learner's click on Cancel ends that run."""
    # steps no other test uses: live runs of one configuration but their seed are one variant (one legend entry)
    page.goto(tiny_run_url(server, seed=404, steps=31))
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    finished = queued_id(page)
    name = f"ResNet-20 A w4 · digits · live #{finished}"
    page.wait_for_function(f"(({POINTS_JS})() || {{}})[{name!r}] === 31", timeout=120_000)
    expect(page.locator(f".st-key-run-{finished}")).to_have_count(0, timeout=30_000)  # done: its weights are saved
    # on the chart alone, its loss landscape on the fine grid: a task process computes it for a while
    page.goto(tiny_run_url(server, seed=405, steps=19_999) + f"&runs={finished}")
    page.get_by_role("radio", name="41×41 · fine").click()
    page.locator(".st-key-lab_landscape_compute").get_by_role("button").filter(visible=True).click()  # it has help: a hidden copy
    computing = page.get_by_text(re.compile(rf"Computing the 41×41 surface .*#{finished} "))
    expect(computing).to_be_visible()
    # three long runs (new configurations: their diagnostics at initialisation start too)
    runs = [press_train(page, seed) for seed in (405, 406, 407)]
    assert len(set(runs)) == 3 and finished not in runs
    try:
        expect(page.get_by_text(re.compile(rf"#{runs[0]} ResNet-20 A w4: step \d+/19999"))).to_be_visible()
        for run_id in runs:  # each run's row drawn (the answer to Train shows above the region, before its next draw)
            expect(page.locator(f".st-key-cancel_{run_id}")).to_have_count(1)

        page.evaluate(WATCH_JS, runs)
        start = time.monotonic()
        while True:  # the page samples itself for SAMPLE_S seconds, and at least 10 times a second on average
            seen = page.evaluate("() => window.__labWatch")
            assert not seen["bad"], seen["bad"][:10]
            if time.monotonic() - start >= SAMPLE_S and seen["checks"] >= 10 * SAMPLE_S:
                break
            assert time.monotonic() - start < 3 * SAMPLE_S, f"only {seen['checks']} samples in {3 * SAMPLE_S} s"
            page.wait_for_timeout(500)
        for run_id in runs:  # all three still in the queue: the sample saw them live
            expect(page.locator(f".st-key-run-{run_id}")).to_have_count(1)
        expect(computing).to_be_visible()

        # a learner's click (Playwright waits for a button that stays put), and the run ends within 5 s
        target = runs[0]
        page.locator(f".st-key-cancel_{target}").get_by_role("button").click(timeout=10_000)
        expect(page.locator(f".st-key-run-{target}")).to_have_count(0, timeout=5_000)
        expect(page.get_by_test_id("stDataFrame").filter(has_text=f"#{target} ResNet-20 A w4 · digits")).to_contain_text("cancelled")
    finally:  # leave the server as found, by the same buttons: the next tests wait for the workers
        for run_id in runs:
            row, button = page.locator(f".st-key-run-{run_id}"), page.locator(f".st-key-cancel_{run_id}").get_by_role("button")
            if button.count() and button.is_enabled():  # not cancelled already ("Cancelling…" is disabled)
                button.click(timeout=30_000)
            expect(row).to_have_count(0, timeout=60_000)
        cancel_landscape = page.locator(f".st-key-cancel_landscape_{finished}").get_by_role("button")
        if cancel_landscape.count() and cancel_landscape.is_enabled():
            cancel_landscape.click(timeout=30_000)
        expect(computing).to_have_count(0, timeout=30_000)


# The training-loss chart's box (in page coordinates) and the page's scroll (Streamlit scrolls its main
# section, not the window), sampled in the page every 100 ms
# (a timer, so a loaded machine may sample less often; each sample records when it was taken). "drawn": the
# plot is there with its curves (a chart being re-mounted is briefly absent, or a blank white box).
CHART_WATCH_JS = """() => {
    const watch = {samples: []};
    const main = document.querySelector('[data-testid="stMain"]');
    const sample = () => {
        const plot = document.querySelector('.st-key-chart_train_loss .js-plotly-plot');
        const box = plot ? plot.getBoundingClientRect() : null;
        const drawn = !!(box && box.height > 0 && plot.querySelector('.main-svg .scatterlayer .trace'));
        watch.samples.push({t: Math.round(performance.now()), drawn, y: main.scrollTop,
                            top: box ? box.top + main.scrollTop : null, left: box ? box.left : null,
                            width: box ? box.width : null, height: box ? box.height : null});
    };
    sample();
    setInterval(sample, 100);
    window.__chartWatch = watch;
}"""
STARTED = re.compile(r"Started (\d+) new run\(s\): ((?:#\d+(?:, )?)+)")


def watched(page: Page) -> list[dict]:
    return page.evaluate("() => window.__chartWatch.samples")


def movement(samples: list[dict]) -> str:
    tops = [s["top"] for s in samples if s["top"] is not None]
    return (f"chart_samples={len(samples)} chart_moved_px={max(tops) - min(tops) if tops else None} "
            f"chart_missing_samples={sum(not s['drawn'] for s in samples)} scroll_y={sorted({s['y'] for s in samples})}")


def wait_for_samples(page: Page, more: int) -> None:
    """Let the page sample ``more`` times again (bounded: a poll on the recorder's own count)."""
    count = page.evaluate("() => window.__chartWatch.samples.length")
    page.wait_for_function(f"() => window.__chartWatch.samples.length >= {count + more}", timeout=60_000)


def test_the_training_loss_chart_holds_still_through_rerun_live_and_a_cancel(server, server_store, page):
    """Issue 22: while a preset's runs are queued, train and one is cancelled (a learner's click), the
    training-loss chart stays where it is (≤ 2 px), is never missing or blank, and the page never scrolls by itself."""
    page.goto(f"{server}/lab?lang=en&preset=degradation")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    page.wait_for_function(f"({POINTS_JS})() !== null")
    expect(page.get_by_text("Measuring every block")).to_have_count(0)  # the first run is over
    scrolled = "document.querySelector('[data-testid=\"stMain\"]')"
    page.evaluate(f"() => {{ {scrolled}.scrollTop = 120; }}")  # off the top: a page that scrolled itself would show it
    page.wait_for_function(f"() => {scrolled}.scrollTop === 120")
    page.evaluate(CHART_WATCH_JS)
    wait_for_samples(page, 10)

    page.locator(".st-key-rerun_live").get_by_role("button").filter(visible=True).click()  # it has help: a hidden copy
    started = page.get_by_text(STARTED)
    expect(started).to_be_visible()
    runs = [int(i) for i in re.findall(r"#(\d+)", STARTED.search(started.inner_text()).group(2))]
    assert len(runs) == 4
    # one trains (a worker takes its first run once the previous test's runs are done: setup, not the measure)
    expect(page.get_by_text(re.compile(r"#\d+ \S+: step \d+/120")).first).to_be_visible(timeout=120_000)
    wait_for_samples(page, 30)  # three seconds of the region's ticks while runs train and wait
    print(f"before_cancel: {movement(watched(page))}")
    # the runs still waiting, as the store has them: each has its row and Cancel; the last is cancelled while it waits
    waiting = [r.id for r in server_store.list_runs(status="queued") if r.id in runs]
    now = time.time()
    assert waiting, "none of the preset's runs waits any more: " + ", ".join(
        f"#{r.id} {r.status} queued {now - r.created_at:.1f} s ago" for r in server_store.list_runs() if r.id in runs)
    for run_id in waiting:
        expect(page.locator(f".st-key-cancel_{run_id}").get_by_role("button")).to_have_count(1, timeout=10_000)
    target = waiting[-1]
    cancel = page.locator(f".st-key-cancel_{target}").get_by_role("button").filter(visible=True)
    cancel.scroll_into_view_if_needed()  # the queue sits below the charts: the test scrolls to it, as a reader would
    scrolled_to = page.evaluate(f"() => {scrolled}.scrollTop")
    cancel.click(timeout=30_000)
    expect(page.locator(f".st-key-run-{target}")).to_have_count(0, timeout=10_000)
    wait_for_samples(page, 30)
    samples = watched(page)

    tops = [s["top"] for s in samples if s["top"] is not None]
    moved = max(tops) - min(tops) if tops else None
    missing = [s["t"] for s in samples if not s["drawn"]]
    scrolls = sorted({s["y"] for s in samples})
    print(f"chart_samples={len(samples)} chart_moved_px={moved} chart_missing_samples={len(missing)} scroll_y={scrolls}")
    try:
        assert not missing, f"the chart was missing or blank in {len(missing)} of {len(samples)} samples"
        assert moved is not None and moved <= 2, f"the chart moved {moved} px"
        lefts = [s["left"] for s in samples if s["left"] is not None]
        assert max(lefts) - min(lefts) <= 2, f"the chart moved sideways: {sorted(set(lefts))}"
        # its height changes once, when the pressed preset's live runs join its legend (two more legend rows);
        # never on a tick
        heights = [s["height"] for s in samples if s["height"] is not None]
        changes = sum(a != b for a, b in zip(heights, heights[1:]))
        assert changes <= 1, f"the chart's height changed {changes} times: {sorted(set(heights))}"
        assert set(scrolls) <= {120, scrolled_to}, f"the page scrolled by itself: {scrolls}"
    finally:  # leave the server as found: the preset's other runs cancelled through the store, not by their
        # buttons: a 120-step run may finish between finding its row and clicking (CI run of bc2dc2e), and the
        # click then waits for a button that is rightly gone; the click under test is the one above
        for run_id in runs:
            if run_id != target:
                server_store.request_cancel(run_id)
        for run_id in runs:
            expect(page.locator(f".st-key-run-{run_id}")).to_have_count(0, timeout=90_000)  # a running run stops at its next step


def test_after_rerun_live_one_click_computes_the_presets_landscapes(server, page):
    """Issue 22: after "Rerun live" of the Degradation preset the analyses pick its live runs (they sit
    after the references on the chart), and once they finish one click starts their four landscapes. The
    computation itself (about a minute per run at 11×11 here) is cancelled: the page tests draw its result."""
    page.goto(f"{server}/lab?lang=en&preset=degradation")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    page.locator(".st-key-rerun_live").get_by_role("button").filter(visible=True).click()
    answer = page.get_by_text(re.compile(r"(Started \d+ new run\(s\)|These runs already exist)"))
    expect(answer).to_be_visible()
    # the runs the answer names (trained now or before): not the chart's, which may still show the variants'
    # cancelled runs of an earlier test until this page run's region arrives
    runs = [int(i) for i in re.findall(r"#(\d+)", answer.inner_text().split("The chart holds")[0])]
    assert len(runs) == 4
    names = [f"· live #{run_id}" for run_id in runs]
    page.wait_for_function(f"() => {{ const names = Object.keys(({POINTS_JS})() || {{}}); "
                           f"return {names!r}.every(n => names.some(m => m.includes(n))); }}")
    for run_id in runs:  # the preset's four short runs train to the end (their weights are saved then)
        expect(page.locator(f".st-key-run-{run_id}")).to_have_count(0, timeout=600_000)
    page.get_by_role("radio", name="11×11 · quick").click()
    compute = page.locator(".st-key-lab_landscape_compute").get_by_role("button").filter(visible=True)
    expect(compute).to_have_text(re.compile(r"Compute for 4 run\(s\)$"))
    expect(compute).to_be_enabled()
    compute.click()
    computing = page.get_by_text(re.compile(r"Computing the 11×11 surface and the interpolation of .*#(\d+) "))
    expect(computing).to_have_count(4)
    for run_id in runs:
        expect(page.get_by_text(re.compile(rf"Computing the 11×11 surface .*#{run_id} "))).to_be_visible()
    expect(compute).to_be_disabled()
    expect(page.get_by_text("has its 11×11 landscape already")).to_be_visible()  # and it says why
    for run_id in runs:  # leave the server as found, by the Cancel buttons (of those still computing)
        button = page.locator(f".st-key-cancel_landscape_{run_id}").get_by_role("button").filter(visible=True)
        if button.count():
            button.click(timeout=30_000)
    expect(computing).to_have_count(0, timeout=60_000)
