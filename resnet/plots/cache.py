"""Figures built once and shared by every session (Plotly only).

Building a Plotly figure validates every property it is given: the Why page's block
diagram costs ~20 ms of CPU, the Feature maps overview and panels as much, while turning
a built figure into what Streamlit sends takes ~1 ms. All sessions share one interpreter
(the page scripts take turns on the GIL), so with 30 students opening pages at once every
build was paid 30 times (bench/load.py). ``shared_figure`` builds a figure once per input
and hands each caller its own copy, made from the stored spec without validating it again.
What is then done to every copy before drawing (``style.for_room``: the room's text sizes)
is done once per input too, and so is the dict Streamlit encodes: ``memoised``.

Inputs are matched by value when they are hashable by value (numbers, text, the
translator, frozen dataclasses; lists and dicts are compared item by item), and by
identity otherwise: the shared, read-only results the pages cache for every session (an
``Analysis``, a sample picture). An entry held by identity lives no longer than its object.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, TypeVar

# Plotly uses pandas only if sys.modules has it, without importing it: when a page imports pandas in
# one session's thread while another session builds its first figure, Plotly meets the half-imported
# module ("partially initialized module 'pandas' has no attribute 'Series'": the first pages of a
# freshly started server opened at once, tests/e2e/test_load_client.py). Every figure builder
# imports this module first, so pandas is whole before any figure is built.
import pandas  # noqa: F401
import plotly.graph_objects as go

F = TypeVar("F", bound=Callable[..., go.Figure])


class _Unkeyable(Exception):
    """An input neither hashable by value nor weakly referable: that call is not cached."""


# Values whose equality is their value: a list or tuple of only these is keyed as it is, in one step (a lab
# chart's curves are thousands of numbers; walking them one by one in Python cost more than drawing)
SCALARS = frozenset({int, float, str, bool, type(None)})


def _scalars(value: list | tuple) -> bool:
    return set(map(type, value)) <= SCALARS


def _freeze(value: Any, refs: list[weakref.ref]) -> Any:
    """``value`` as part of a cache key; objects matched by identity go to ``refs``."""
    if isinstance(value, (list, tuple)):
        if _scalars(value):
            return (type(value).__name__, tuple(value))
        return (type(value).__name__, *(_freeze(v, refs) for v in value))
    if isinstance(value, dict):
        return ("dict", *((_freeze(k, refs), _freeze(v, refs)) for k, v in value.items()))
    if type(value).__hash__ not in (None, object.__hash__):  # hashable by value
        try:
            hash(value)
            return value
        except TypeError:  # a frozen dataclass holding an array
            pass
    try:
        refs.append(weakref.ref(value))
    except TypeError:
        if type(value).__hash__ is object.__hash__:  # None and other singletons: their identity is their value
            return value
        raise _Unkeyable from None
    return ("id", id(value))


@dataclasses.dataclass
class _Entry:
    spec: dict[str, Any]  # the built figure's data and layout
    variants: dict[Any, dict[str, Any]]  # memoised's results: variant → the changed figure's to_dict()


class _Handout(go.Figure):
    """A caller's copy of a shared figure, made only once something reads or changes it.

    Drawing it through ``memoised`` (``style.for_room``, every page chart) reads nothing but
    its input's variants, so the copy is then never made: making it (deep copies of every
    trace and of the layout, and the default template) was ~9 % of the server's time while
    30 followers moved (py-spy, bench/load.py's follow round). Any other use of the figure
    (an attribute or a method) makes it first, from the stored spec, as before.
    """

    def __init__(self, entry: _Entry) -> None:
        object.__setattr__(self, "_entry", entry)
        object.__setattr__(self, "_shared_variants", entry.variants)  # what memoised finds: this input's variants

    def __getattr__(self, name: str) -> Any:
        # called only for what the instance lacks: before the copy is made, everything but the two above
        entry = self.__dict__.pop("_entry", None)
        if entry is None:  # made already (or being made): a genuinely missing attribute
            raise AttributeError(name)
        # A new figure from a validated figure's own data (the constructor copies it, so each caller may
        # change its own): validating it again would cost what building did, as go.Figure(fig) does, and
        # to_dict() would turn arrays into base64 (the tests check both).
        go.Figure.__init__(self, entry.spec, _validate=False)
        return getattr(self, name)


class Drawn(go.Figure):
    """A figure only to be drawn: its ``to_dict()``, made once, shared read-only by every session.

    ``st.plotly_chart`` reads a figure through ``to_dict()`` alone (and encodes that), so a
    drawing costs no copy of the figure: a lab chart's copies cost more than its encoding.
    Its traces and layout are not there to read or change.
    """

    def __init__(self, as_dict: dict[str, Any]) -> None:
        # go.Figure's own initialisation is skipped: an empty figure's default template alone cost ~1 ms a
        # chart, 8 % of the server's time while 30 followers moved (py-spy), and nothing reads it here
        object.__setattr__(self, "_as_dict", as_dict)

    def to_dict(self) -> dict[str, Any]:
        return self._as_dict


def is_shared(fig: go.Figure) -> bool:
    """Whether ``fig`` is a copy ``shared_figure`` handed out."""
    return getattr(fig, "_shared_variants", None) is not None


def memoised(fig: go.Figure, variant: Any, change: Callable[[go.Figure], go.Figure]) -> go.Figure:
    """``change(fig)`` to draw: made once per input and ``variant`` when ``fig`` is a copy
    ``shared_figure`` handed out (then a ``Drawn``); else ``change(fig)`` itself. ``change``
    must depend only on the figure and ``variant``, and the copy must not have been changed
    since it was handed out."""
    if not is_shared(fig):
        return change(fig)
    variants = fig._shared_variants
    as_dict = variants.get(variant)
    if as_dict is None:  # two sessions at once may both make it: the same result
        as_dict = variants[variant] = change(fig).to_dict()
    return Drawn(as_dict)


def _spec(fig: go.Figure) -> dict[str, Any]:
    """A built figure's traces and layout as plain dicts (arrays stay numpy arrays), validated already."""
    return {"data": copy.deepcopy(fig._data), "layout": copy.deepcopy(fig._layout)}


def by_value(value: Any) -> Any:
    """A hashable copy of ``value`` (dataclasses field by field, lists, tuples and dicts item by item):
    a key for inputs that are made anew on every run, e.g. the lab's curves read from the store."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__, *(by_value(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, (list, tuple)):
        return tuple(value) if _scalars(value) else tuple(by_value(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, by_value(v)) for k, v in value.items())
    return value


def shared_figure(maxsize: int = 32, key: Callable[..., tuple] | None = None) -> Callable[[F], F]:
    """Cache a figure builder's result (its spec) for the last ``maxsize`` inputs; each call gets a fresh figure.

    ``key(*args, **kwargs)`` picks what the figure depends on when that is less than the
    arguments (a panel object made anew on every run, from a block and a channel).
    """
    def wrap(build: F) -> F:
        specs: OrderedDict[tuple, _Entry] = OrderedDict()  # key → the built figure, least recently used first
        lock = threading.Lock()
        signature = inspect.signature(build)

        def forget(k: tuple) -> None:
            with lock:
                specs.pop(k, None)

        @functools.wraps(build)
        def cached(*args: Any, **kwargs: Any) -> go.Figure:
            refs: list[weakref.ref] = []
            try:
                if key is not None:
                    k = _freeze(key(*args, **kwargs), refs)
                else:  # by parameter, defaults filled in: f(x) and f(x, scale=1.0) are one input
                    bound = signature.bind(*args, **kwargs)
                    bound.apply_defaults()
                    k = _freeze(tuple(bound.arguments.items()), refs)
            except _Unkeyable:
                return build(*args, **kwargs)
            with lock:
                entry = specs.get(k)
                if entry is not None:
                    specs.move_to_end(k)
            if entry is None:
                entry = _Entry(_spec(build(*args, **kwargs)), {})
                with lock:
                    specs[k] = entry
                    while len(specs) > maxsize:
                        specs.popitem(last=False)
                # an object matched by identity dies: its entries go (its id may be reused)
                for ref in refs:
                    obj = ref()
                    if obj is not None:
                        weakref.finalize(obj, forget, k)
            return _Handout(entry)

        return cached  # type: ignore[return-value]

    return wrap
