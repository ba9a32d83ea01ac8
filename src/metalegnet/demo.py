"""``metalegnet demo`` (``make demo``): the main job end to end in about five minutes on a
CPU core.

1. Load the embedded ``wwl-simple`` set (WWL-GPR: 1,422 relaxed C, CH, CH2, CH3, CO, H, O, OH
   structures on 19 metal, alloy and single-atom-alloy surfaces, mostly (211) steps, with DFT
   adsorption energies ``e_ads`` in eV) and print its summary.
2. Train a small LegNet (full variant) on S2E adsorption energy with the benchmark's recipe for
   this set (``metalegnet bench accuracy --suite full``, row ``wwl-simple:s2e``: whole surfaces
   held out, their elements seen in training, early stopping on validation), within a
   wall-time cap.
3. Evaluate the best checkpoint on the held-out test surfaces next to the two trivial
   references (training-set mean, per-element linear fit) and the spread of the predictions,
   and draw a parity plot.
4. Run the ASE calculator on a test structure of three test surfaces and print the most
   important atoms (w_i = |c_i| / max |c_j|, eq. 31).
5. Explain a dozen test structures (``metalegnet explain``'s pipeline: Otsu environments,
   cutoff / kNN overlap, masking, stability) into ``demo_out/explain/`` and put one
   attribution picture (``demo_out/attribution.png``) and the interactive
   ``demo_out/report.html`` beside the report.
6. Build the adsorption-environment database of the training structures
   (``demo_out/environments.db``, with its FAISS index) and run SEAM on a random-alloy
   fcc(111) slab no training structure has, writing ranked, ready-to-relax poses to
   ``demo_out/seam/proposals.extxyz``; the checkpoint is copied to ``demo_out/legnet.pt``.
7. Write ``demo_out/report.md`` and ``demo_out/parity.png`` and say where they are.

Why an adsorption-energy set: the earlier demo trained S2EF on oc20-mini, whose 31
trajectories are 31 different materials. Their total energies are explained by composition:
the demo model's test MAE (49.55 eV) was the per-element fit's (49.63 eV) and its force MAE
(0.0612 eV/Å) that of predicting zero forces (0.0613 eV/Å), so the demo showed a model that
could not be told from its references. On wwl-simple the same model size is well below both.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

#: the data set, and the benchmark row whose recipe (split, budget, model) the demo uses
DEMO_DATA = "wwl-simple"
DEMO_ROW = "wwl-simple:s2e"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="train a small LegNet on wwl-simple adsorption energies and write a "
        "report", description="Load wwl-simple, train a small LegNet on S2E adsorption "
        "energies for a few minutes, evaluate it on held-out surfaces, explain it, build an "
        "environment database, run SEAM on an unseen alloy slab and write a Markdown report.")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--epochs", type=int, default=None,
                   help="maximum epochs (default: the benchmark row's, with early stopping)")
    p.add_argument("--minutes", type=float, default=5.0,
                   help="wall-time cap on training (default 5)")
    p.add_argument("--structure-stride", type=int, default=1,
                   help="use every k-th structure of the set (default 1: all)")
    p.add_argument("--num-threads", type=int, default=1,
                   help="CPU threads (default 1: small graphs gain little from more, and "
                   "threads fighting over busy cores are very slow)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_demo)


def demo_config(epochs: int | None, minutes: float, seed: int, num_threads: int):
    """The demo's :class:`~metalegnet.train.config.TrainConfig`: the ``full`` benchmark
    suite's run of LegNet on :data:`DEMO_ROW` (same split, model, learning rate, patience),
    on the CPU, with a wall-time cap of ``minutes``."""
    from metalegnet.bench.accuracy import train_config
    from metalegnet.bench.suites import FULL
    from metalegnet.train.config import config_from_dict

    settings = train_config(FULL, FULL.row(DEMO_ROW), FULL.model("legnet"), seed, DEMO_DATA)
    settings.update(structure_stride=1, device="cpu", num_threads=num_threads,
                    max_time_s=60.0 * minutes, progress=True)
    if epochs is not None:
        settings["epochs"] = epochs
    return config_from_dict(settings)


def _top_atoms(atoms, calc, k: int = 5) -> tuple[float, list[str]]:
    atoms = atoms.copy()
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    w = calc.results["importance"]
    c = calc.results["contributions"]
    tags = atoms.get_tags()
    order = np.argsort(-w)[:k]
    rows = [f"{int(i)} {atoms[int(i)].symbol} (tag {int(tags[i])}) w={w[i]:.2f} "
            f"c={c[i]:+.3f}" for i in order]
    return energy, rows


def _group(atoms, keys) -> str:
    return "/".join(str(atoms.info.get(k)) for k in keys)


def run_demo(args: argparse.Namespace) -> int:
    from metalegnet.calculator import MetaLegNetCalculator
    from metalegnet.data import format_summary, load, summarize
    from metalegnet.data.splits import apply_split, load_split
    from metalegnet.errors import ConfigError
    from metalegnet.train.data import make_samples
    from metalegnet.train.evaluate import evaluate_checkpoint
    from metalegnet.train.trainer import train

    if args.structure_stride < 1:
        raise ConfigError(f"--structure-stride must be >= 1, got {args.structure_stride}")
    t0 = time.time()
    out = Path(args.out)
    run = out / "run"
    config = demo_config(args.epochs, args.minutes, args.seed, args.num_threads)
    print(f"== {DEMO_DATA}: WWL-GPR's simple adsorbates on metal, alloy and single-atom-alloy "
          "surfaces (DFT adsorption energy e_ads, eV) ==")
    frames = load(DEMO_DATA)[::args.structure_stride]
    print(format_summary(summarize(frames)))
    if run.exists():
        shutil.rmtree(run)
    print(f"\n== training LegNet (full) on S2E adsorption energy, whole surfaces held out, "
          f"early stopping, at most {config.epochs} epochs and {args.minutes:g} min ==")
    metrics = train(config, run, structures=frames)

    print("\n== evaluating on the held-out test surfaces ==")
    result = evaluate_checkpoint(run / "checkpoint.pt", DEMO_DATA, split="test",
                                 out=out / "parity.json", structures=frames)
    test = result["metrics"]
    samples, _ = make_samples(frames, config)
    split = apply_split(load_split(run / "splits.json"), [s.atoms for s in samples])
    train_samples, test_samples = split.select(samples, "train"), split.select(samples, "test")
    base = metrics["baselines_test"]  # the trainer's, on this same test split
    spread = result.get("spread", {})
    print(f"test energy MAE {test.get('energy_mae', float('nan')):.3f} eV; training mean "
          f"{base['train_mean'].get('energy_mae', float('nan')):.3f} eV, per-element fit "
          f"{base['element_linear'].get('energy_mae', float('nan')):.3f} eV; spread (std) of "
          f"predictions {spread.get('energy_pred_std', float('nan')):.3f} eV against "
          f"{spread.get('energy_true_std', float('nan')):.3f} eV in DFT")

    print("\n== most important atoms (calculator on test surfaces) ==")
    calc = MetaLegNetCalculator.from_checkpoint(run / "checkpoint.pt")
    first: dict[str, object] = {}
    for s in test_samples:
        first.setdefault(_group(s.atoms, config.group_by), s.atoms)
    attribution = []
    for group, atoms in list(first.items())[:3]:
        energy, rows = _top_atoms(atoms, calc)
        info = atoms.info
        line = (f"{info.get('adsorbate')} on {group} {info.get('facet', '')} at "
                f"{info.get('site', '?')} ({atoms.get_chemical_formula()}): predicted "
                f"adsorption energy {energy:.3f} eV, DFT {float(info[config.energy_key]):.3f} eV")
        print(line)
        for r in rows:
            print("   ", r)
        attribution.append((line, rows))

    print("\n== explaining test structures: learned adsorption environments (eqs. 31-32) ==")
    explained = _explain_step(run / "checkpoint.pt", frames, out)
    print("\n== environment database of the training structures and SEAM on an alloy "
          "surface the model never saw ==")
    seam = _seam_step(run / "checkpoint.pt", [s.atoms for s in train_samples], out)
    unseen = _unseen_elements(train_samples, test_samples, config.group_by)
    for group, symbols in unseen.items():
        print(f"{group}: elements absent from the training surfaces: {symbols or 'none'}")
    report = _report(config, metrics, test, base, spread, attribution, time.time() - t0,
                     unseen)
    report += _explain_section(explained["summary"])
    from metalegnet.seam.demo import markdown_section

    report += "\n" + markdown_section(seam)
    (out / "report.md").write_text(report)
    print(f"\nreport:      {out / 'report.md'}")
    print(f"parity plot: {result['parity_plot']}")
    print(f"explanation: {explained['report']} (interactive 3-D, offline), "
          f"{explained['picture']}")
    print(f"checkpoint:  {out / 'legnet.pt'} (MetaLegNetCalculator.from_checkpoint)")
    print(f"environment database: {seam['db']} (ase db), SEAM poses: "
          f"{seam['seam']['extxyz']} (ase gui)")
    print(f"total time {time.time() - t0:.0f} s")
    return 0


def _seam_step(checkpoint: Path, train_structures, out: Path) -> dict:
    """Copy the checkpoint to ``out/legnet.pt``, build ``out/environments.db`` from the
    training structures and let SEAM rank poses on an unseen alloy slab
    (:func:`metalegnet.seam.demo.seam_demo`)."""
    from metalegnet.seam.demo import seam_demo

    shutil.copyfile(checkpoint, out / "legnet.pt")
    result = seam_demo(out / "legnet.pt", train_structures, out, top_k=5)
    s = result["seam"]
    print(f"{result['build']['rows']} environments in {result['db']}; SEAM: "
          f"{s['proposals']} poses of {result['adsorbate']} on {result['slab_description']} "
          f"in {s['proposal_seconds']:.2f} s -> {s['extxyz']}")
    return result


def _explain_step(checkpoint: Path, frames, out: Path, limit: int = 12) -> dict:
    """The explanation step: ``limit`` test structures through the explain pipeline."""
    import json

    from metalegnet.config import atomic_write_text
    from metalegnet.explain.analysis import ExplainConfig, analyse
    from metalegnet.explain.commands import select_structures
    from metalegnet.explain.figures import write_figures
    from metalegnet.explain.pictures import save_attribution_png
    from metalegnet.explain.report import write_report

    model, structures, labels, meta = select_structures(checkpoint, DEMO_DATA, "test", limit,
                                                        structures=frames)
    cfg = ExplainConfig(random_draws=3, stability_draws=1, stability_structures=4)
    exps, records, summary = analyse(model, structures, labels, cfg, log=lambda m: None)
    folder = out / "explain"
    figures = write_figures(records, summary["stability"], folder, f"{DEMO_DATA} (demo)")
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=1) + "\n")
    picture = out / "attribution.png"
    r = records[0]
    save_attribution_png(picture, structures[0], exps[0].environment,
                         f"{r['sid']} ({r['formula']}): predicted {r['energy_pred']:.2f} eV "
                         f"({meta['energy']})")
    report = write_report(out / "report.html", f"Meta-LegNet demo: explained {DEMO_DATA} test "
                          "structures", summary, structures[:6], exps[:6], records[:6],
                          figures, notes=f"{len(structures)} test structures, target "
                          f"{meta['energy']}.")
    m, ov = summary["masking"], summary["overlap"]

    def f(v):
        return "-" if v is None else f"{v:.3f}"

    print(f"{len(structures)} structures: environment "
          f"{summary['environment']['mean_size']:.1f} atoms on average; IoU vs cutoff "
          f"{f(ov['cutoff']['iou'])}, vs kNN {f(ov['knn']['iou'])}; masking |dE| learned / "
          "random / distant: " + " / ".join(f((m.get(k) or {}).get("abs_dE")) for k in
                                            ("learned", "random", "distant")) + " eV")
    return {"report": report, "picture": picture, "summary": summary}


def _explain_section(summary: dict) -> str:
    def f(v):
        return "–" if v is None else f"{v:.3f}"

    ov, m, env = summary["overlap"], summary["masking"], summary["environment"]
    rows = [f"| {k} | {f((m.get(k) or {}).get('abs_dE'))} | "
            f"{f((m.get(k) or {}).get('abs_dE_learned'))} | "
            f"{f((m.get(k) or {}).get('d_abs_error'))} |" for k in ("learned", "random",
                                                                   "distant")]
    return "\n".join([
        "", "## Learned adsorption environments (eq. 32)", "",
        f"{env['num_structures']} test structures; environment {env['mean_size']:.1f} atoms "
        f"on average ({env['mean_catalyst_size']:.1f} catalyst) of "
        f"{env['mean_num_atoms']:.1f}. IoU with the {ov['cutoff']['radius_A']} Å cutoff "
        f"reference {f(ov['cutoff']['iou'])}, with the size-matched kNN reference "
        f"{f(ov['knn']['iou'])}. Interactive 3-D view: [report.html](report.html); picture: "
        "![attribution](attribution.png)", "",
        "Masking removes the environment's K catalyst atoms (controls: K random, the K "
        "farthest); abs dE includes the removed atoms' per-element reference energies, the "
        "learned part (those references subtracted) is the fairer comparison.", "",
        "| mask | abs dE (eV) | abs dE, learned part (eV) | d abs error (eV) |",
        "|---|---|---|---|", *rows, ""])


def _unseen_elements(train, test, group_by) -> dict[str, str]:
    """Per test group (surface), the elements no training structure contains."""
    seen = {int(z) for s in train for z in s.atoms.numbers}
    out: dict[str, str] = {}
    for s in test:
        group = _group(s.atoms, group_by)
        missing = {a.symbol for a in s.atoms if a.number not in seen}
        out[group] = " ".join(sorted(set(out.get(group, "").split()) | missing))
    return out


def _report(config, metrics, test, base, spread, attribution, seconds, unseen) -> str:
    from metalegnet.bench.suites import FULL

    n = metrics["num_samples"]
    nan = float("nan")
    model = config.model_config
    lines = [
        f"# Meta-LegNet demo: adsorption energies on {DEMO_DATA}",
        "",
        f"LegNet (full variant, {model['num_features']} features, {model['num_blocks']} "
        f"blocks, cutoff {config.cutoff} Å) trained on S2E adsorption energy (`e_ads`, eV) "
        f"with the recipe of the benchmark row `{DEMO_ROW}` (`metalegnet bench accuracy "
        f"--suite {FULL.name}`): {metrics['epochs_run']} epochs ({metrics['steps']} steps, "
        f"{metrics['train_time_s']:.0f} s), best on validation at epoch "
        f"{metrics.get('best_epoch', '?')}. Split by {', '.join(config.group_by)} (whole "
        f"surfaces held out, their elements seen in training): {n['train']} / {n['val']} / "
        f"{n['test']} training / validation / test structures.",
        "",
        "| predictor | test energy MAE (eV) |",
        "|---|---|",
        f"| LegNet (this run) | {test.get('energy_mae', nan):.3f} |",
        f"| training-set mean | {base['train_mean'].get('energy_mae', nan):.3f} |",
        f"| per-element linear fit | {base['element_linear'].get('energy_mae', nan):.3f} |",
        "",
        f"{test['n']} test structures. Spread (standard deviation) of the predictions "
        f"{spread.get('energy_pred_std', nan):.3f} eV against "
        f"{spread.get('energy_true_std', nan):.3f} eV in DFT. Training-set energy MAE in "
        "the last epoch: "
        f"{metrics.get('last_train', {}).get('energy_mae', nan):.3f} eV. "
        "![parity plot](parity.png)",
        "",
        "Elements of the test surfaces that no training structure contains:",
        "",
        *[f"- {group}: {symbols or 'none'}" for group, symbols in unseen.items()],
        "",
        "## Most important atoms (w_i = |c_i| / max_j |c_j|, eq. 31)",
        "",
    ]
    for line, rows in attribution:
        lines.append(f"- {line}")
        lines.extend(f"  - atom {r}" for r in rows)
    lines += ["", f"Total demo time {seconds:.0f} s. Run folder: `run/` (checkpoint.pt, "
              "last.pt, config.yaml, splits.json, log.csv, metrics.json).", ""]
    return "\n".join(lines)
