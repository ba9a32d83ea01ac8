"""Report helpers: cells, bold best, the LegNet-vs-baseline ratio, rows not generated."""

from __future__ import annotations

import json

import pytest

from metalegnet.bench.jobs import JobResult
from metalegnet.bench.report import (
    accuracy_table,
    cost_table,
    digits_for,
    format_cell,
    format_ratio,
    notes,
    spread_table,
    write_report,
)
from metalegnet.bench.results import (
    Cell,
    RowResult,
    column_order,
    gather,
    results_json,
)
from metalegnet.bench.suites import QUICK
from metalegnet.train.metrics import prediction_spread

ROW = QUICK.row("c3-cu111:s2e")
COLUMNS = ["legnet", "schnet", "cgcnn", "train_mean", "element_linear", "legnet-vanilla"]


def _row(**means: list[float]) -> RowResult:
    kinds = {"legnet": "legnet", "schnet": "baseline", "cgcnn": "baseline",
             "train_mean": "reference", "element_linear": "reference",
             "legnet-vanilla": "ablation"}
    cells = {k: Cell(kinds[k], list(means.get(k, []))) for k in COLUMNS}
    return RowResult(ROW, "ok", "embedded", cells, {"train": 8, "val": 1, "test": 2})


def _line(r: RowResult) -> list[str]:
    return [c.strip() for c in accuracy_table([r], COLUMNS)[2].strip("|").split("|")]


def test_format_cell_mean_and_sample_std():
    assert format_cell(0.12345, 0.0049, 3) == "0.123 ± 0.005"
    assert format_cell(None, None, 3) == "n/a"
    assert digits_for("eV") == 3 and digits_for("eV/Å") == 4
    cell = Cell("legnet", [1.0, 2.0, 3.0])
    assert cell.mean == pytest.approx(2.0) and cell.std == pytest.approx(1.0)  # ddof=1
    assert Cell("legnet", [0.5]).std == 0.0 and Cell("legnet").mean is None


def test_best_cell_is_bold_and_only_it():
    r = _row(legnet=[0.2, 0.4], schnet=[0.5], cgcnn=[0.6], train_mean=[0.9],
             element_linear=[0.8], **{"legnet-vanilla": [0.25]})
    line = _line(r)
    bold = [c for c in line if c.startswith("**")]
    assert bold == ["**0.250 ± 0.000**"]  # legnet-vanilla, mean 0.25 < legnet's 0.30
    assert line[2] == "held-out formulas" and line[6] == "0.300 ± 0.141"  # mean ± sample std


def test_reference_can_be_best():
    r = _row(legnet=[0.5], schnet=[0.6], train_mean=[0.1], element_linear=[0.2])
    assert [c for c in _line(r) if c.startswith("**")] == ["**0.100 ± 0.000**"]


def test_ratio_is_legnet_over_best_library_baseline():
    r = _row(legnet=[0.3], schnet=[0.5], cgcnn=[0.4], train_mean=[0.1],
             **{"legnet-vanilla": [0.05]})
    ratio, name = r.legnet_vs_best_baseline()
    assert name == "cgcnn" and ratio == pytest.approx(0.75)  # refs and ablations ignored
    assert format_ratio((ratio, name)) == "0.75 (cgcnn)"
    assert _line(r)[-1] == "0.75 (cgcnn)"
    assert format_ratio(_row(legnet=[0.3]).legnet_vs_best_baseline()) == "n/a"


def test_row_not_generated_keeps_the_column_count():
    r = RowResult(QUICK.row("bench-0d:s2e"), "not generated", "no data")
    line = _line(r)
    assert len(line) == 6 + len(COLUMNS) + 1
    assert line[6] == "not generated" and line[-1] == "-"
    assert r.to_json()["models"] == {} and r.to_json()["status"] == "not generated"


def test_gather_seeds_errors_and_unavailable_models():
    suite = QUICK.select(models=["legnet", "schnet", "gemnet-dt"])
    refs = {"train_mean": 1.0, "element_linear": 0.8}
    results = [
        JobResult(ROW.key, "legnet", 0, test_mae=0.2, references=refs, params=10,
                  train_sps=5.0, infer_sps=9.0, true=[1.0, 2.0], pred=[1.1, 2.1],
                  num_samples={"train": 8, "val": 1, "test": 2}),
        JobResult(ROW.key, "legnet", 1, test_mae=0.4, references={"train_mean": 1.2}),
        JobResult(ROW.key, "schnet", 0, error="boom"),
        JobResult("other:s2e", "legnet", 0, test_mae=9.0),
    ]
    r = gather(suite, ROW, results, {"gemnet-dt": "no library"})
    assert [c for c, _ in column_order(suite)] == list(r.cells)
    assert r.cells["legnet"].values == [0.2, 0.4] and r.cells["legnet"].train_sps == 5.0
    assert r.cells["train_mean"].values == [1.0, 1.2]
    assert r.cells["element_linear"].values == [0.8]
    assert r.cells["schnet"].values == [] and r.cells["schnet"].error == "boom"
    assert not r.cells["gemnet-dt"].runnable
    assert r.preds == {"legnet": [1.1, 2.1]} and r.num_samples["test"] == 2
    assert r.cells["legnet"].spread == pytest.approx(1.0)  # pred std 0.5, true std 0.5
    text = notes([r])
    assert any("schnet: boom" in t for t in text) and not any("gemnet" in t for t in text)
    doc = results_json([r], {"suite": "quick"})
    cell = doc["rows"][0]["models"]["gemnet-dt"]
    assert cell["mae_mean"] is None and cell["error"] == "no library"
    assert doc["rows"][0]["legnet_vs_best_baseline"] is None  # schnet failed


def test_cost_table_median_and_range():
    a, b = _row(legnet=[0.1]), _row(legnet=[0.1])
    a.cells["legnet"].train_sps, b.cells["legnet"].train_sps = 10.0, 30.0
    a.cells["legnet"].params = b.cells["legnet"].params = 1234
    line = cost_table([a, b], ["legnet"])[2]
    assert line == "| legnet | 1,234 | 20.0 (10.0-30.0) | n/a |"


def test_write_report_files(tmp_path):
    r = _row(legnet=[0.3], schnet=[0.5])
    r.true, r.preds = [0.0, 1.0, 2.0], {"legnet": [0.1, 1.1, 1.9], "schnet": [0.5, 0.5, 2.5]}
    write_report(tmp_path, [r], {"suite": "quick"}, COLUMNS, ["legnet", "schnet"],
                 ["# title"])
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["rows"][0]["models"]["schnet"]["mae_mean"] == pytest.approx(0.5)
    assert (tmp_path / "plots" / "c3-cu111_s2e.png").stat().st_size > 1000
    assert "plots/c3-cu111_s2e.png" in (tmp_path / "results.md").read_text()


def test_rows_that_do_not_rank_are_reported_apart_with_why(tmp_path):
    from metalegnet.bench.suites import FULL

    ranking = _row(legnet=[0.3], schnet=[0.5])
    ranking.cells["legnet"].epochs, ranking.cells["legnet"].best_epochs = [12, 20], [6, 14]
    apart = RowResult(FULL.row("c3-cu111:s2f"), "ok", "embedded",
                      {k: Cell(c.kind, [0.0036]) for k, c in ranking.cells.items()},
                      {"test": 5})
    ranking.curves = {"legnet": [[1, 0.5, 0.6], [2, 0.3, 0.4]],
                      "schnet": [[1, 0.7, 0.8], [2, 0.6, 0.7]]}
    write_report(tmp_path, [ranking, apart], {"suite": "full"}, COLUMNS,
                 ["legnet", "schnet"], ["# title"])
    md = (tmp_path / "results.md").read_text()
    top, rest = md.split("## Test MAE: rows reported apart")
    assert "| S2E | c3-cu111" in top and "| S2F | c3-cu111" not in top
    assert "| S2F | c3-cu111" in rest and "relaxed structures" in rest
    assert "| c3-cu111:s2e | 8 / off | 16 (10) |" in md  # epochs run (best), QUICK row
    assert (tmp_path / "plots" / "c3-cu111_s2e_curves.png").stat().st_size > 1000
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [r["ranking"] for r in doc["rows"]] == [True, False]
    assert doc["rows"][0]["models"]["legnet"]["best_epoch"] == [6, 14]


def test_published_numbers_sit_beside_legnet():
    from metalegnet.bench.report import published_table
    from metalegnet.bench.suites import FULL

    r = RowResult(FULL.row("gamenet-fg:s2e:random"), "ok", "embedded",
                  {"legnet": Cell("legnet", [0.21, 0.23])}, {"test": 70})
    lines = published_table([r])
    assert len(lines) == 3 and "GAME-Net | 0.18 (MAE) | 0.220 ± 0.014 (MAE)" in lines[2]
    assert published_table([_row(legnet=[0.3])]) == []


def test_prediction_spread_flags_a_model_that_predicts_its_reference():
    true = [0.0, 1.0, 2.0, 3.0]
    assert prediction_spread(true, [1.5, 1.5, 1.5, 1.5]) == 0.0
    assert prediction_spread(true, [0.0, 2.0, 4.0, 6.0]) == pytest.approx(2.0)
    assert prediction_spread([1.0, 1.0], [0.0, 2.0]) is None  # constant targets
    assert prediction_spread([], []) is None
    r = _row(legnet=[0.3], schnet=[0.5])
    r.cells["legnet"].spread, r.cells["schnet"].spread = 0.04, None
    assert spread_table([r], ["legnet", "schnet"])[2] == "| c3-cu111:s2e | 0.04 | n/a |"
