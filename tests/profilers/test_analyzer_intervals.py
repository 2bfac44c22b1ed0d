import numpy as np
import pytest

from dnn_suite_profilers.analyzers.intervals import merge, union_length, union_length_in_windows


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0),
        ([(0, 10), (20, 25)], 15),  # disjoint
        ([(0, 10), (5, 15)], 15),  # overlapping (two streams)
        ([(0, 100), (10, 20), (30, 40)], 100),  # nested
        ([(0, 5), (5, 8)], 8),  # touching
        ([(20, 25), (0, 10), (8, 12)], 17),  # unsorted
        ([(5, 5), (9, 3)], 0),  # empty and reversed intervals count nothing
    ],
)
def test_union_length(intervals, expected):
    starts = [a for a, _ in intervals]
    ends = [b for _, b in intervals]
    assert union_length(starts, ends) == expected


def test_union_length_clipped_to_window():
    starts, ends = [0, 20, 40, 100], [10, 30, 50, 120]
    # [0,10) -> [5,10); [20,30) whole; [40,50) -> [40,45); [100,120) outside
    assert union_length(starts, ends, window=(5, 45)) == 5 + 10 + 5
    assert union_length(starts, ends, window=(60, 90)) == 0


def test_merge_joins_touching_and_overlapping():
    s, e = merge([5, 0, 12, 3], [8, 5, 13, 4])
    assert s.tolist() == [0, 12]
    assert e.tolist() == [8, 13]


def test_overlapping_windows_count_once():
    assert union_length_in_windows([0], [20], [(0, 10), (5, 15)]) == 15
    assert union_length_in_windows([0, 30], [20, 40], [(10, 35), (38, 50)]) == 10 + 5 + 2


def test_union_length_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(0, 12))
        starts = rng.integers(0, 60, n)
        ends = starts + rng.integers(0, 20, n)
        window = tuple(sorted(rng.integers(0, 80, 2).tolist()))
        covered = {
            t for a, b in zip(starts, ends, strict=True) for t in range(int(a), int(b)) if window[0] <= t < window[1]
        }
        assert union_length(starts, ends, window) == len(covered)


def test_merge_drops_empty_and_reversed_intervals():
    starts, ends = merge([5, 0, 9, 5], [5, 3, 2, 7])  # [5, 5) is empty, [9, 2) reversed
    assert starts.tolist() == [0, 5] and ends.tolist() == [3, 7]
    starts, ends = merge([4], [4])
    assert starts.size == 0 and ends.size == 0
