"""The lab queue's row places (``pages.common.lab_live.queue_places``): a row never moves while its run is in
the queue, so Streamlit's positional redraw never shows one run twice or loses the next one's row."""

from __future__ import annotations

from pages.common.lab_live import MAX_HOLES, queue_places


def test_a_new_run_takes_a_place_at_the_end():
    assert queue_places([], [], [7]) == [7]
    assert queue_places([7], [7], [7, 8]) == [7, 8]


def test_a_run_that_leaves_keeps_its_place_empty_so_the_rows_after_it_stay():
    assert queue_places([7, 8, 9], [7, 8, 9], [8, 9]) == [None, 8, 9]
    assert queue_places([None, 8, 9], [None, 8, 9], [8, 9, 10]) == [None, 8, 9, 10]  # the hole is not refilled


def test_an_empty_place_at_the_end_goes_only_once_a_finished_tick_drew_it_empty():
    # the last run left: its place is drawn empty first (a tick whose tail is dropped leaves what it did not draw)
    assert queue_places([7, 8], [7, 8], [7]) == [7, None]
    assert queue_places([7, None], [7, 8], [7]) == [7, None]  # no tick finished since
    assert queue_places([7, None], [7, None], [7]) == [7]
    # the queue empties: each place stays until a finished tick drew it empty
    assert queue_places([7, None], [7, None], []) == [None]
    assert queue_places([None], [None], []) == []


def test_too_many_empty_places_close_up():
    placed = list(range(MAX_HOLES + 2))
    active = [MAX_HOLES + 1]  # all but the last left
    assert queue_places(placed, placed, active) == [MAX_HOLES + 1]
    assert queue_places(placed, placed, [0, MAX_HOLES + 1]).count(None) == MAX_HOLES
