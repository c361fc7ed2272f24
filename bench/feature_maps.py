"""Feature maps page, core only: from image bytes to every figure ready (JSON), warm.

    python bench/feature_maps.py [--repeat 7] [--image cat]

ResNet-50 at 224×224, seeded random weights (the page's default; official weights cost
the same). One request = load and check the upload, preprocess, one forward pass with
every block's maps, the analysis, and the page's figures (overview, top-16 channel grid,
x / F(x) / shortcut / out panel, ‖F(x)‖/‖x‖ chart, top-5, CAM) serialised as Streamlit
sends them. The ablation (drop one block: a second forward + comparison figures) is
timed on its own. The request is timed again with the fast path's ``fast_forward_features``
(ablations always run in dygraph there), and as the page makes it: the maps computed by the
inference service (``resnet.lab.service``) and sent back to the server.

Then the browser: the real server (``streamlit run app.py``) driven in Debian's headless
Chromium through Playwright. Per round, one seed's model is warmed up (page load with the
cat: model build, fast-path export, first drawing; not timed), then for each other sample
the time from choosing it in the Image box to every map redrawn is measured: the new
sample's credit on the page, the script run over, the channel grid's and the 4-panel
figure's heatmaps replaced, and two animation frames for Plotly to paint. "fresh" = the
server computes that image for the first time (forward pass + analysis + figures);
"cached" = the image's analysis is already in the server's shared cache (figures only).
The last line is the browser figure (median of the fresh runs, the harder case):
``feature_maps_warm_s=<seconds>``. ``--no-browser`` skips it.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.server import HOST, free_port, start_server, stop_server  # noqa: E402
from resnet.inference import features  # noqa: E402
from resnet.plots import features as feature_plots  # noqa: E402
from resnet.inference.images import SAMPLES_DIR, load_image, sample  # noqa: E402
from resnet.model.preprocess import preprocess  # noqa: E402
from resnet.model.weights import imagenet_labels, random_model  # noqa: E402


def t(key: str, **values: object) -> str:  # the page passes its translator; the text does not matter here
    return key


def request(lab, data: bytes, forward) -> list[str]:
    """Everything the page computes for one image, the figures as JSON."""
    loaded = load_image(data)
    prepared = preprocess(loaded.image, lab.preprocess)
    analysis = features.run(lab.model, prepared.array, labels=imagenet_labels(), forward=forward)
    view = analysis.block("layer2.0")
    channels = features.top_channels(view, 16)
    figures = [
        feature_plots.overview_figure(analysis, view.name, t),
        feature_plots.channel_grid_figure(analysis, view, channels, "channel", t),
        feature_plots.channel_panel_figure(analysis, view, features.channel_panel(view, channels[0]), "block", t),
        feature_plots.ratio_figure(analysis, t),
        feature_plots.top5_figure(analysis, t),
        feature_plots.cam_figure(analysis, prepared.display, t),
    ]
    return [fig.to_json() for fig in figures]


def ablation(lab, data: bytes) -> list[str]:
    prepared = preprocess(load_image(data).image, lab.preprocess)
    base = features.run(lab.model, prepared.array, labels=imagenet_labels())
    dropped = features.run(lab.model, prepared.array, labels=imagenet_labels(), drop_blocks={"layer3.2"})
    comparison = features.compare(base, dropped)
    figures = [feature_plots.ablation_figure(comparison, t), feature_plots.ratio_figure(base, t, dropped), feature_plots.top5_figure(base, t, dropped),
               feature_plots.overview_figure(dropped, "layer3.2", t)]
    return [fig.to_json() for fig in figures]


def service_time(data: bytes, repeat: int) -> float:
    """Median seconds of the page's request for one image's maps from the inference service (warm model)."""
    from resnet.inference.explore import ModelSpec
    from resnet.lab import service

    spec = ModelSpec("random", depth=50, seed=0)
    prepared = preprocess(load_image(data).image, random_model(50, seed=0).preprocess)
    median, _ = median_time(lambda: service.call("resnet.inference.served:maps", key=spec.key, timeout=600, spec=spec,
                                                 array=prepared.array), repeat)
    service.pool().stop()
    return median


def median_time(fn, repeat: int) -> tuple[float, list[float]]:
    fn()  # warm: first-call allocations, oneDNN kernel choice, program export
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--image", default="cat")
    parser.add_argument("--rounds", type=int, default=3, help="browser: seeds (models) to time 4 fresh images each")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    args = parser.parse_args()

    data = (SAMPLES_DIR / sample(args.image).file).read_bytes()
    lab = random_model(50, seed=0)
    print(f"ResNet-50, 224×224, random weights (seed 0), image {args.image!r} ({len(data)} bytes), "
          f"median of {args.repeat} warm runs")

    steps = {
        "load + check image": lambda: load_image(data),
        "preprocess": lambda: preprocess(load_image(data).image, lab.preprocess),
    }
    for name, fn in steps.items():
        print(f"  {name:<34} {median_time(fn, args.repeat)[0] * 1000:8.1f} ms")

    core, times = median_time(lambda: request(lab, data, None), args.repeat)
    print(f"  {'request → all figures (dygraph)':<34} {core * 1000:8.1f} ms   runs: "
          + " ".join(f"{x * 1000:.0f}" for x in times))
    abl, _ = median_time(lambda: ablation(lab, data), args.repeat)
    print(f"  {'ablation (2 forwards + figures)':<34} {abl * 1000:8.1f} ms")

    fast = None
    if importlib.util.find_spec("resnet.inference.fastpath") is not None:
        from resnet.inference import fastpath

        if hasattr(fastpath, "fast_forward_features"):
            started = time.perf_counter()
            request(lab, data, fastpath.fast_forward_features)  # builds (or loads) the program
            print(f"  {'fast path: first call (export)':<34} {(time.perf_counter() - started) * 1000:8.1f} ms")
            fast, times = median_time(lambda: request(lab, data, fastpath.fast_forward_features), args.repeat)
            print(f"  {'request → all figures (fast path)':<34} {fast * 1000:8.1f} ms   runs: "
                  + " ".join(f"{x * 1000:.0f}" for x in times))
    served = service_time(data, args.repeat)
    print(f"  {'maps through the inference service':<34} {served * 1000:8.1f} ms   (fast path, warm; the analysis pickled back)")
    print(f"feature_maps_core_warm_s={core:.3f}")
    if fast is not None:
        print(f"feature_maps_core_fast_warm_s={fast:.3f}")
    print(f"feature_maps_service_warm_s={served:.3f}")
    if not args.no_browser:
        fresh, cached = browser_times(args.rounds)
        print("Browser (Chromium, real server): choosing an image → all maps drawn, warm")
        print(f"  {'fresh image (server computes it)':<34} {statistics.median(fresh) * 1000:8.1f} ms   runs: "
              + " ".join(f"{x * 1000:.0f}" for x in fresh))
        print(f"  {'image already analysed (cached)':<34} {statistics.median(cached) * 1000:8.1f} ms   runs: "
              + " ".join(f"{x * 1000:.0f}" for x in cached))
        print(f"feature_maps_cached_warm_s={statistics.median(cached):.3f}")
        print(f"feature_maps_warm_s={statistics.median(fresh):.3f}")


# ---------------------------------------------------------------------------------
# The browser measurement
# ---------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SAMPLE_LABELS = {"cat": "Chelsea the cat", "astronaut": "Astronaut", "coffee": "Coffee", "rocket": "Rocket launch",
                 "retina": "Retina (fundus photo)"}

# Resolves once the page shows ``credit``, no script run is going on, the channel grid's and
# the panel's heatmap images differ from ``before``, then waits two frames for Plotly to paint.
REDRAWN = """([credit, before]) => {
    const text = document.body.innerText;
    if (!text.includes(credit) || document.querySelector('[data-testid="stStatusWidget"]')) return false;
    const plots = document.querySelectorAll('.js-plotly-plot');
    if (plots.length < 4) return false;
    const now = [1, 2].map(i => { const img = plots[i].querySelector('.hm image'); return img && img.getAttribute('href'); });
    return now.every((href, i) => href && href !== before[i]);
}"""
HREFS = """() => { const plots = document.querySelectorAll('.js-plotly-plot');
    return [1, 2].map(i => { const img = plots[i] && plots[i].querySelector('.hm image'); return img && img.getAttribute('href'); }); }"""


def browser_times(rounds: int) -> tuple[list[float], list[float]]:
    """Seconds from choosing a sample to every map redrawn: (fresh images, cached images)."""
    from playwright.sync_api import expect, sync_playwright

    from resnet.inference.images import SAMPLES, sample as sample_info

    fresh, cached = [], []
    with tempfile.TemporaryDirectory(prefix="bench_fm_") as tmp:
        port = free_port()
        proc, url = start_server(port, Path(tmp), Path(tmp) / "server.log", wait_s=120), f"http://{HOST}:{port}"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 3000}, locale="en-US")
                page.set_default_timeout(180_000)
                expect.set_options(timeout=180_000)

                def choose(name: str, times: list[float]) -> None:
                    before = page.evaluate(HREFS)
                    page.get_by_test_id("stSelectbox").filter(has_text="Image").click()
                    option = page.get_by_role("option", name=SAMPLE_LABELS[name], exact=True)
                    option.wait_for()
                    start = time.perf_counter()
                    option.click()
                    page.wait_for_function(REDRAWN, arg=[sample_info(name).credit, before], polling="raf")
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                    times.append(time.perf_counter() - start)

                others = [s.name for s in SAMPLES if s.name != "cat"]
                for seed in range(rounds):
                    page.goto(f"{url}/feature_maps?lang=en&image=cat&seed={seed}")  # warm-up: model, export, drawing
                    page.wait_for_function(REDRAWN, arg=[sample_info("cat").credit, [None, None]])
                    for name in others:
                        choose(name, fresh)
                    for name in ["cat", *others[:-1]]:  # analysed already in this round
                        choose(name, cached)
                browser.close()
        finally:
            stop_server(proc)
    return fresh, cached


if __name__ == "__main__":
    main()
