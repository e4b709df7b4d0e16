"""bench/load.py's reading of one switchover from a client's log (literal times)."""

from bench.load import Answer, cost, response_closes, spread


def answer(started: float, write: bool, member: str | None) -> Answer:
    return Answer(write, started, started + 0.002, member is not None, member)


LOG = [
    answer(9.990, True, "web-a"),  # before the fence: the old primary takes writes
    answer(10.001, True, None),  # fenced at 10.000: refused
    answer(10.005, False, "web-a"),  # reads still served by the old primary
    answer(10.009, True, None),
    answer(10.013, False, "web-b"),  # the path has moved
    answer(10.017, True, "web-b"),
    answer(11.500, True, None),  # the next switchover's
]


def test_counts_the_failures_in_the_window_and_times_the_gap_from_the_fence() -> None:
    measured = cost(LOG, start=9.9, end=11.0, fenced_at=10.0, target="web-b")
    assert (measured.failed_writes, measured.failed_reads) == (2, 0)
    assert measured.gap_ms is not None and round(measured.gap_ms, 3) == 15.0
    assert measured.last_failure_ms is not None and round(measured.last_failure_ms, 3) == 11.0
    assert round(measured.slowest_write_ms, 3) == 2.0


def test_a_path_that_never_moved_has_no_gap_and_a_clean_one_no_last_failure() -> None:
    never = cost(LOG[:4], start=9.9, end=11.0, fenced_at=10.0, target="web-b")
    assert never.gap_ms is None and never.failed_writes == 2
    clean = cost([answer(10.013, True, "web-b")], 9.9, 11.0, 10.0, "web-b")
    assert (clean.failed_writes, clean.last_failure_ms) == (0, None)


def test_spread_and_which_answers_close_the_connection() -> None:
    assert spread([3, 1, 12, 5]) == "1 / 4 / 12"
    assert spread([]) == "-"
    assert response_closes("<html>503 Service Unavailable</html>")
    assert not response_closes("written by web-a")
