from pipelines.evaluate.report import render_evaluation


def test_render_evaluation_shows_every_model_and_notes():
    result = {
        "as_of": "2026-11-13", "horizon_days": 7, "k": 10,
        "recsys": {"groups_evaluated": 3, "models": {
            "popularity": {"ndcg@10": 0.25, "recall@10": 0.5, "precision@10": 0.1, "map@10": 0.2,
                           "hit@10": 0.6, "coverage": 0.05},
            "production": {"ndcg@10": 0.4, "recall@10": 0.6, "precision@10": 0.2, "map@10": 0.3,
                           "hit@10": 0.7, "coverage": 0.09}}},
        "forecast": {"series_evaluated": 0, "models": {}, "note": "not evaluated: too short",
                     "presale": {"windows_evaluated": 2, "at_share": {
                         "0.50": {"additive": {"wape": 0.6, "bias": 0.1, "pinball": 1.0,
                                               "coverage_p10_p90": 0.7}}}}},
    }
    text = render_evaluation(result)
    assert "3 groups evaluated" in text
    assert "production" in text and "0.4000" in text and "popularity" in text
    assert "note: not evaluated: too short" in text
    assert "0.50 · additive" in text and "0.6000" in text


def test_render_evaluation_with_empty_blocks():
    text = render_evaluation({"as_of": "2026-11-13", "horizon_days": 7, "k": 5})
    assert "0 groups evaluated" in text and "0 series evaluated" in text


def test_the_head_threshold_reads_as_units_not_a_metric():
    head = {"threshold": 28.0, "window_days": 28, "series": 5,
            "models": {"production": {"total_wape": 0.7, "bias": 0.1}}}
    text = render_evaluation({"as_of": "2026-11-13", "horizon_days": 7, "k": 10,
                              "forecast": {"series_evaluated": 5, "models": {}, "head": head}})
    assert "head series (sold >= 28 units in the 28 days before): 5 series" in text
