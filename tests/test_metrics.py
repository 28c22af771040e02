"""MEGC spotting metric: inclusive IoU, one-to-one greedy matching, pooled counts per class and overall."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from inference.metrics import (
    SpottingCounts,
    evaluate_spotting,
    expression_class,
    interval_iou,
    match_intervals,
)


@dataclass(frozen=True)
class Iv:
    """Stand-in for acquisition.readers.annotations.Interval (same field names)."""

    video: str
    onset: int
    offset: int
    apex: int | None = None
    subject: str = "s1"
    label: str = ""
    kind: str = ""


def me(video: str, onset: int, offset: int, subject: str = "s1") -> Iv:
    return Iv(video, onset, offset, subject=subject, kind="ME")


def macro(video: str, onset: int, offset: int, subject: str = "s1") -> Iv:
    return Iv(video, onset, offset, subject=subject, kind="macro")


def counts(c: SpottingCounts) -> tuple[int, int, int]:
    return (c.tp, c.fp, c.fn)


# --- interval_iou -------------------------------------------------------------------------------------


def test_iou_is_inclusive() -> None:
    assert interval_iou(0, 9, 0, 9) == 1.0
    assert interval_iou(5, 5, 5, 5) == 1.0  # a one-frame interval has length 1, not 0
    assert interval_iou(0, 4, 4, 8) == pytest.approx(1 / 9)  # one shared frame, 9 frames in the union
    assert interval_iou(0, 9, 5, 14) == pytest.approx(5 / 15)


def test_iou_of_disjoint_and_adjacent_intervals_is_zero() -> None:
    assert interval_iou(0, 4, 5, 9) == 0.0
    assert interval_iou(0, 4, 50, 90) == 0.0


def test_iou_is_symmetric() -> None:
    assert interval_iou(0, 9, 3, 20) == interval_iou(3, 20, 0, 9)


def test_iou_rejects_reversed_interval() -> None:
    with pytest.raises(ValueError):
        interval_iou(9, 0, 0, 9)


# --- match_intervals ----------------------------------------------------------------------------------


def test_iou_exactly_half_is_a_match() -> None:
    assert interval_iou(0, 9, 0, 19) == 0.5  # 10 shared frames / 20 in the union
    result = match_intervals([("v", 0, 9)], [("v", 0, 19)])
    assert result.pairs == [(0, 0, 0.5)]
    assert counts(result.counts) == (1, 0, 0)


def test_iou_just_below_half_is_no_match() -> None:
    assert interval_iou(0, 9, 0, 20) == pytest.approx(10 / 21)
    result = match_intervals([("v", 0, 9)], [("v", 0, 20)])
    assert result.pairs == []
    assert result.unmatched_truth == [0]
    assert result.unmatched_pred == [0]
    assert counts(result.counts) == (0, 1, 1)


def test_threshold_is_a_parameter() -> None:
    assert counts(match_intervals([("v", 0, 9)], [("v", 0, 20)], iou_threshold=0.4).counts) == (1, 0, 0)
    assert counts(match_intervals([("v", 0, 9)], [("v", 1, 9)], iou_threshold=1.0).counts) == (0, 1, 1)
    with pytest.raises(ValueError):
        match_intervals([("v", 0, 9)], [("v", 50, 60)], iou_threshold=0.0)


def test_one_prediction_over_two_truths_is_one_tp_one_fn() -> None:
    truth = [("v", 0, 9), ("v", 2, 11)]
    pred = [("v", 1, 10)]  # IoU 9/11 with both
    result = match_intervals(truth, pred)
    assert counts(result.counts) == (1, 0, 1)
    assert result.pairs[0][:2] == (0, 0)  # tie broken by truth index
    assert result.unmatched_truth == [1]


def test_two_predictions_on_one_truth_is_one_tp_one_fp() -> None:
    result = match_intervals([("v", 0, 9)], [("v", 1, 10), ("v", 0, 9)])
    assert counts(result.counts) == (1, 1, 0)
    assert result.pairs == [(0, 1, 1.0)]  # the better prediction, though listed second
    assert result.unmatched_pred == [0]


def test_greedy_takes_the_best_pairs_first() -> None:
    # T0 = 0..9, T1 = 3..12; P0 = 3..12 (0.54 with T0, 1.0 with T1), P1 = 0..9 (1.0 with T0, 0.54 with T1).
    # First-come matching in prediction order would pair P0-T0 and P1-T1; greedy by IoU pairs the exact ones.
    truth = [("v", 0, 9), ("v", 3, 12)]
    pred = [("v", 3, 12), ("v", 0, 9)]
    result = match_intervals(truth, pred)
    assert sorted(result.pairs) == [(0, 1, 1.0), (1, 0, 1.0)]


def test_greedy_prefers_higher_iou_over_index_order() -> None:
    truth = [("v", 0, 9)]
    pred = [("v", 0, 13), ("v", 0, 10)]  # IoU 10/14, then 10/11
    assert match_intervals(truth, pred).pairs == [(0, 1, pytest.approx(10 / 11))]


def test_only_the_same_video_matches() -> None:
    result = match_intervals([("a", 0, 9)], [("b", 0, 9)])
    assert counts(result.counts) == (0, 1, 1)


def test_empty_inputs() -> None:
    assert counts(match_intervals([], []).counts) == (0, 0, 0)
    assert counts(match_intervals([("v", 0, 9)], []).counts) == (0, 0, 1)
    assert counts(match_intervals([], [("v", 0, 9)]).counts) == (0, 1, 0)


# --- SpottingCounts ---------------------------------------------------------------------------------


def test_counts_ratios() -> None:
    c = SpottingCounts(tp=2, fp=1, fn=3)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 5)
    assert c.f1 == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))


def test_zero_tp_gives_zero_f1_without_division_by_zero() -> None:
    for c in (SpottingCounts(), SpottingCounts(fp=3), SpottingCounts(fn=2), SpottingCounts(fp=3, fn=2)):
        assert (c.precision, c.recall, c.f1) == (0.0, 0.0, 0.0)


def test_counts_add_for_pooling() -> None:
    pooled = SpottingCounts(1, 0, 0) + SpottingCounts(0, 3, 1)
    assert pooled == SpottingCounts(1, 3, 1)
    assert pooled.f1 == pytest.approx(2 / 6)  # pooled, not the mean of the per-video F1s (1.0 and 0.0)


# --- evaluate_spotting --------------------------------------------------------------------------------


def test_a_video_without_predictions_counts_its_truths_as_fn() -> None:
    truth = [me("v1", 0, 9), me("v2", 0, 9), me("v2", 30, 39)]
    pred = [me("v1", 0, 9)]
    report = evaluate_spotting(truth, pred)
    assert counts(report.overall) == (1, 0, 2)
    assert counts(report.per_video[("s1", "v2")]) == (0, 0, 2)
    assert counts(report.per_video[("s1", "v1")]) == (1, 0, 0)


def test_predictions_in_a_video_without_truth_are_fp() -> None:
    truth = [me("v1", 0, 9)]
    pred = [me("v1", 0, 9), me("v9", 0, 9), me("v9", 20, 29)]
    report = evaluate_spotting(truth, pred)
    assert counts(report.overall) == (1, 2, 0)
    assert counts(report.per_video[("s1", "v9")]) == (0, 2, 0)


def test_same_video_name_for_another_subject_does_not_match() -> None:
    report = evaluate_spotting([me("v1", 0, 9, subject="s1")], [me("v1", 0, 9, subject="s2")])
    assert counts(report.overall) == (0, 1, 1)


def test_empty_prediction_list_is_all_fn() -> None:
    report = evaluate_spotting([me("v1", 0, 9), macro("v1", 100, 199)], [])
    assert counts(report.overall) == (0, 0, 2)
    assert report.overall.f1 == 0.0
    assert counts(report.per_class["ME"]) == (0, 0, 1)
    assert counts(report.per_class["macro"]) == (0, 0, 1)


def test_no_truth_and_no_predictions() -> None:
    report = evaluate_spotting([], [])
    assert counts(report.overall) == (0, 0, 0)
    assert set(report.per_class) == {"ME", "macro"}
    assert report.per_video == {}


def test_counts_are_pooled_over_videos_per_class() -> None:
    truth = [
        me("v1", 0, 9),
        macro("v1", 100, 199),
        me("v2", 0, 9),
        me("v2", 50, 59),
        macro("v2", 300, 399),
    ]
    pred = [
        me("v1", 0, 9),  # ME TP
        macro("v1", 100, 199),  # macro TP
        me("v2", 50, 59),  # ME TP
        macro("v2", 0, 9),  # overlaps an ME truth: FP for macro (class mismatch), TP overall
        macro("v2", 500, 599),  # macro FP
    ]
    report = evaluate_spotting(truth, pred)
    assert counts(report.per_class["ME"]) == (2, 0, 1)  # v2's ME 0..9 has no ME prediction
    assert counts(report.per_class["macro"]) == (1, 2, 1)
    assert counts(report.overall) == (4, 1, 1)  # class-agnostic matching
    assert report.per_class["ME"].f1 == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert report.per_class["macro"].precision == pytest.approx(1 / 3)
    assert report.per_video[("s1", "v1")] + report.per_video[("s1", "v2")] == report.overall


def test_class_from_duration_when_kind_is_empty() -> None:
    fps = 150.0
    assert expression_class(Iv("v", 0, 75), fps) == "ME"  # 75 / 150 = 0.5 s
    assert expression_class(Iv("v", 0, 76), fps) == "macro"
    assert expression_class(Iv("v", 0, 300, apex=37), fps) == "ME"  # onset to apex 0.247 s
    assert expression_class(Iv("v", 0, 300, apex=38), fps) == "macro"  # 0.253 s
    assert expression_class(Iv("v", 0, 300, apex=0), fps) == "ME"  # an apex at the onset is <= 0.25 s
    assert expression_class(Iv("v", 10, 300, apex=0), fps) == "macro"  # outside the interval: ignored
    assert expression_class(Iv("v", 0, 300, kind="ME"), fps) == "ME"  # kind wins over duration
    assert expression_class(Iv("v", 0, 5, kind="macro"), None) == "macro"
    assert expression_class(Iv("v", 0, 5), None) is None


def test_fps_classifies_unlabelled_intervals() -> None:
    truth = [Iv("v", 0, 50), Iv("v", 200, 500)]
    pred = [Iv("v", 0, 50), Iv("v", 210, 500)]
    report = evaluate_spotting(truth, pred, fps=150)
    assert counts(report.per_class["ME"]) == (1, 0, 0)
    assert counts(report.per_class["macro"]) == (1, 0, 0)
    assert (report.unclassified_truth, report.unclassified_pred) == (0, 0)


def test_unlabelled_intervals_without_fps_count_in_overall_only() -> None:
    truth = [Iv("v", 0, 50), me("v", 200, 209)]
    pred = [Iv("v", 0, 50), me("v", 200, 209)]
    report = evaluate_spotting(truth, pred)
    assert counts(report.overall) == (2, 0, 0)
    assert counts(report.per_class["ME"]) == (1, 0, 0)
    assert counts(report.per_class["macro"]) == (0, 0, 0)
    assert (report.unclassified_truth, report.unclassified_pred) == (1, 1)


def test_prediction_without_subject_matches_by_video() -> None:
    report = evaluate_spotting([me("v1", 0, 9, subject="s7")], [me("v1", 0, 9, subject="")])
    assert counts(report.overall) == (1, 0, 0)
    assert list(report.per_video) == [("s7", "v1")]


def test_prediction_without_subject_in_an_ambiguous_video_is_an_error() -> None:
    truth = [me("v1", 0, 9, subject="s1"), me("v1", 0, 9, subject="s2")]
    with pytest.raises(ValueError, match="v1"):
        evaluate_spotting(truth, [me("v1", 0, 9, subject="")])


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        evaluate_spotting([], [], iou_threshold=1.5)
    with pytest.raises(ValueError):
        evaluate_spotting([], [], fps=0)


def test_report_to_dict_is_json_ready() -> None:
    report = evaluate_spotting([me("v1", 0, 9), me("v2", 0, 9)], [me("v1", 0, 9)], fps=150)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["overall"] == {"tp": 1, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.5, "f1": 2 / 3}
    assert set(data["classes"]) == {"ME", "macro"}
    assert data["per_video"][1] == {
        "subject": "s1", "video": "v2", "tp": 0, "fp": 0, "fn": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0
    }
    assert data["iou_threshold"] == 0.5
    assert data["fps"] == 150


def test_duration_rule_agrees_with_the_annotation_reader() -> None:
    from acquisition.readers.annotations import Interval, classify_expression

    for fps in (150.0, 100.0, 29.97):
        for length in range(0, 200, 3):
            for apex in (None, 0, 10, 37, 38, 60):
                apex_frame = apex if apex is not None and apex <= length else None
                iv = Interval("v", 0, length, apex_frame, "s", "", "")
                apex_s = None if iv.apex is None else iv.apex / fps
                assert expression_class(iv, fps) == classify_expression(0.0, apex_s, length / fps), (fps, iv)
