"""Feature maps with the official ImageNet weights on disk but damaged (issue 12): the page
says so, offers the download, and never touches the network until the button is pressed."""

from __future__ import annotations

import httpx

from resnet.i18n import catalog
from resnet.model import weights
from tests.helpers import open_page


def test_damaged_official_weights_say_so_and_never_touch_the_network(monkeypatch, isolated_home):
    calls = []

    def recording(name):
        def call(*args, **kwargs):
            calls.append(name)
            raise httpx.ConnectError("a test must not reach the network")
        return call

    for name in ("head", "get", "stream", "request"):
        monkeypatch.setattr(httpx, name, recording(name))
    path = weights.official_file(50)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a file")  # e.g. a copy from another machine that was cut short

    for lang in ("en", "zh"):
        at = open_page("pages/feature_maps.py", weights="official", lang=lang)
        expected = catalog(lang)["fm.official_damaged"].format(depth=50, mb=98)
        assert [w.value for w in at.warning] == [expected] and not at.error
        assert at.button(key="download").label == catalog(lang)["fm.download"].format(depth=50)
        at.run()  # every later run of the page as well
    assert calls == []  # not "offline": nothing was asked of the network
    assert path.read_bytes() == b"half a file"
