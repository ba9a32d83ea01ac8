"""report.html in a real headless browser (Debian's chromium): the 3-D viewers draw and the
page logs no errors; plus the `metalegnet explain` command end to end on a tiny run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from metalegnet.explain.analysis import ExplainConfig, analyse
from metalegnet.explain.figures import write_figures
from metalegnet.explain.pictures import save_attribution_png
from metalegnet.explain.report import write_report
from tests.explain.helpers import tiny_model
from tests.explain.test_faithfulness import alloy_slabs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run "
    "installs it): the headless-browser test of report.html cannot run")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    model = tiny_model(seed=3)
    structures = alloy_slabs(2)
    cfg = ExplainConfig(random_draws=2, stability_draws=1, stability_structures=1)
    exps, records, summary = analyse(model, structures, [None, -1.0], cfg, log=lambda m: None)
    figures = write_figures(records, summary["stability"], out, "tiny")
    save_attribution_png(out / "000.png", structures[0], exps[0].environment, "tiny")
    path = write_report(out / "report.html", "tiny report", summary, structures, exps,
                        records, figures)
    return path, summary, records


def test_report_is_self_contained(report):
    path, summary, _ = report
    text = path.read_text()
    assert "3dmol" in text.lower() and "$3Dmol.createViewer" in text
    assert not re.search(r"<script[^>]+src=", text)  # nothing fetched: no CDN
    assert not re.search(r"https?://[^\"' ]+\.js", text.split("</head>")[1])
    assert text.count("data:image/png;base64,") == 6  # the summary figures are embedded
    assert set(summary) >= {"masking", "overlap", "stability", "environment"}


def _run_chromium(args, timeout=90):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-dev-shm-usage",
                           "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                           "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=timeout)


@needs_chromium
def test_viewers_draw_and_page_has_no_errors(report):
    path = report[0]
    proc = _run_chromium(["--window-size=1200,1600", "--virtual-time-budget=10000",
                          "--dump-dom", path.as_uri()])
    dom = proc.stdout
    assert 'data-selfcheck="done"' in dom, proc.stderr[-2000:]
    assert 'data-errors="0"' in dom, re.findall(r"<pre id=\"page-errors\">([^<]*)", dom)
    drawn = [int(n) for n in re.findall(r'data-drawn-pixels="(\d+)"', dom)]
    assert len(drawn) == 2 and min(drawn) > 2000, drawn  # 520x400 canvas, atoms drawn
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    bad = [line for line in console if re.search(r"Uncaught|Error|error", line)]
    assert not bad, bad


@needs_chromium
def test_screenshot_is_not_blank(report, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    _run_chromium(["--window-size=1000,900", "--hide-scrollbars",
                   "--virtual-time-budget=10000", f"--screenshot={shot}", report[0].as_uri()])
    img = imread(shot)[..., :3]
    # the first viewer sits in the first structure card; some of the page must be
    # neither white nor grey text: the viridis-coloured atoms
    colourful = (img.max(axis=-1) - img.min(axis=-1)) > 0.25
    assert colourful.sum() > 500


def test_explain_command_end_to_end(tmp_path):
    from ase.io import read

    from metalegnet.checkpoint import save_checkpoint
    from metalegnet.cli import main
    from metalegnet.data.io import write_extxyz_atomic

    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, tiny_model(seed=3))
    data = tmp_path / "slabs.extxyz"
    clean = alloy_slabs(1)[0]
    clean = clean[clean.get_tags() != 2]  # no adsorbate: explained, no references or masks
    write_extxyz_atomic(data, [*alloy_slabs(2), clean])
    out = tmp_path / "out"
    code = main(["explain", str(ckpt), "--data", str(data), "-o", str(out),
                 "--random-draws", "2", "--stability-draws", "1"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for mask in ("learned", "random", "distant"):
        assert summary["masking"][mask]["abs_dE"] >= 0
    assert summary["overlap"]["knn"]["iou"] is not None
    frames = read(out / "explained.extxyz", ":")
    assert len(frames) == 3 and "importance" in frames[0].arrays
    assert summary["masking"]["num_structures"] == 2 and summary["masking"]["skipped"] == 1
    env = frames[0].arrays["environment"]
    assert env.dtype.kind == "i" and set(np.unique(env)) <= {0, 1}
    assert (out / "structures" / "000.png").exists() and (out / "report.html").exists()
    assert (out / "fig8_masking.png").exists()


def test_explain_command_refuses_bad_input(tmp_path, capsys):
    from metalegnet.checkpoint import save_checkpoint
    from metalegnet.cli import main

    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, tiny_model())
    assert main(["explain", str(ckpt), "--data", str(tmp_path / "none.xyz"), "-o",
                 str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err
