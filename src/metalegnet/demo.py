"""``metalegnet demo`` (``make demo``): the main job end to end in a few minutes on a laptop.

1. Load the embedded ``oc20-mini`` set (31 real OC20 relaxation trajectories) and print its
   summary.
2. Train a small LegNet (full variant) on S2EF -- total energy (eV) and forces (eV/Å) --
   split by trajectory, for a few minutes on the CPU.
3. Evaluate the best checkpoint on every frame of the held-out test trajectories, next to
   two trivial references (training-set mean, per-element linear fit), and draw a parity
   plot.
4. Run the ASE calculator on the first and last frame of test trajectories and print the
   most important atoms (w_i = |c_i| / max |c_j|, eq. 31).
5. Explain a dozen test frames (``metalegnet explain``'s pipeline: Otsu environments,
   cutoff / kNN overlap, masking, stability) into ``demo_out/explain/`` and put one
   attribution picture (``demo_out/attribution.png``) and the interactive
   ``demo_out/report.html`` beside the report.
6. Build the adsorption-environment database of the training trajectories
   (``demo_out/environments.db``, with its FAISS index) and run SEAM on a random-alloy
   fcc(111) slab no training structure has, writing ranked, ready-to-relax poses to
   ``demo_out/seam/proposals.extxyz``; the checkpoint is copied to ``demo_out/legnet.pt``.
7. Write ``demo_out/report.md`` and ``demo_out/parity.png`` and say where they are.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

#: small enough to train in a few minutes on 2 CPU cores
DEMO_MODEL = {"num_features": 32, "num_blocks": 2, "num_post_blocks": 0,
              "voxel_sizes": [5.0, 10.0]}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="train a small LegNet on oc20-mini S2EF and write a report",
        description="Load oc20-mini, train a small LegNet on S2EF for a few minutes, evaluate "
        "it on the test trajectories and write a parity plot and a Markdown report.")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--minutes", type=float, default=5.0,
                   help="wall-time cap on training (default 5)")
    p.add_argument("--frame-stride", type=int, default=4,
                   help="train on every k-th frame of each trajectory (default 4)")
    p.add_argument("--num-threads", type=int, default=1,
                   help="CPU threads (default 1: small graphs gain little from more, and "
                   "threads fighting over busy cores are very slow)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_demo)


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


def run_demo(args: argparse.Namespace) -> int:
    from metalegnet.calculator import MetaLegNetCalculator
    from metalegnet.data import format_summary, load, summarize
    from metalegnet.data.splits import apply_split, load_split
    from metalegnet.train.baselines import trivial_baselines
    from metalegnet.train.config import TrainConfig, replace
    from metalegnet.train.data import make_samples
    from metalegnet.train.evaluate import evaluate_checkpoint
    from metalegnet.train.trainer import train

    t0 = time.time()
    out = Path(args.out)
    run = out / "run"
    print("== oc20-mini: 31 OC20 relaxation trajectories (total energy eV, forces eV/Å) ==")
    frames = load("oc20-mini")
    print(format_summary(summarize(frames)))
    config = TrainConfig(data="oc20-mini", task="s2ef", model="legnet", cutoff=5.0,
                         model_config=dict(DEMO_MODEL), frame_stride=args.frame_stride,
                         epochs=args.epochs, batch_size=8, lr=5e-3, seed=args.seed,
                         device="cpu", num_threads=args.num_threads,
                         max_time_s=60.0 * args.minutes, patience=0)
    if run.exists():
        shutil.rmtree(run)
    print(f"\n== training LegNet (full) on S2EF, every {args.frame_stride}th frame, split by "
          f"trajectory, at most {args.minutes:g} min ==")
    metrics = train(config, run, structures=frames)

    print("\n== evaluating on every frame of the test trajectories ==")
    result = evaluate_checkpoint(run / "checkpoint.pt", "oc20-mini", split="test",
                                 out=out / "parity.json", structures=frames)
    test = result["metrics"]
    full = replace(config, frame_stride=1)
    samples, _ = make_samples(frames, full)
    split = apply_split(load_split(run / "splits.json"), [s.atoms for s in samples])
    base = trivial_baselines(split.select(samples, "train"), split.select(samples, "test"),
                             full)

    print("\n== most important atoms (calculator on test trajectories) ==")
    calc = MetaLegNetCalculator.from_checkpoint(run / "checkpoint.pt")
    by_sid: dict[str, list] = {}
    for atoms in frames:
        if atoms.info["sid"] in split.test:
            by_sid.setdefault(atoms.info["sid"], []).append(atoms)
    attribution = []
    for sid, traj in list(by_sid.items())[:3]:
        for label, atoms in (("initial", traj[0]), ("relaxed", traj[-1])):
            energy, rows = _top_atoms(atoms, calc)
            dft = atoms.get_potential_energy()
            line = (f"{sid} {label} ({atoms.get_chemical_formula()}): predicted total energy "
                    f"{energy:.3f} eV, DFT {dft:.3f} eV")
            print(line)
            for r in rows:
                print("   ", r)
            attribution.append((line, rows))

    print("\n== explaining test frames: learned adsorption environments (eqs. 31-32) ==")
    explained = _explain_step(run / "checkpoint.pt", frames, out)
    print("\n== environment database of the training trajectories and SEAM on an alloy "
          "surface the model never saw ==")
    seam = _seam_step(run / "checkpoint.pt",
                      [a for a in frames if a.info["sid"] in set(split.train)], out)
    unseen = _unseen_elements(split.select(samples, "train"), split.select(samples, "test"))
    for sid, symbols in unseen.items():
        print(f"{sid}: elements absent from the training trajectories: {symbols or 'none'}")
    report = _report(config, metrics, test, base, result, attribution, time.time() - t0,
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


def _seam_step(checkpoint: Path, train_frames, out: Path) -> dict:
    """Copy the checkpoint to ``out/legnet.pt``, build ``out/environments.db`` from the
    training trajectories and let SEAM rank poses on an unseen alloy slab
    (:func:`metalegnet.seam.demo.seam_demo`)."""
    from metalegnet.seam.demo import seam_demo

    shutil.copyfile(checkpoint, out / "legnet.pt")
    result = seam_demo(out / "legnet.pt", train_frames, out, top_k=5)
    s = result["seam"]
    print(f"{result['build']['rows']} environments in {result['db']}; SEAM: "
          f"{s['proposals']} poses of {result['adsorbate']} on {result['slab_description']} "
          f"in {s['proposal_seconds']:.2f} s -> {s['extxyz']}")
    return result


def _explain_step(checkpoint: Path, frames, out: Path, limit: int = 12) -> dict:
    """The explanation step: ``limit`` test frames through the explain pipeline."""
    import json

    from metalegnet.config import atomic_write_text
    from metalegnet.explain.analysis import ExplainConfig, analyse
    from metalegnet.explain.commands import select_structures
    from metalegnet.explain.figures import write_figures
    from metalegnet.explain.pictures import save_attribution_png
    from metalegnet.explain.report import write_report

    model, structures, labels, meta = select_structures(checkpoint, "oc20-mini", "test", limit,
                                                        structures=frames)
    cfg = ExplainConfig(random_draws=3, stability_draws=1, stability_structures=4)
    exps, records, summary = analyse(model, structures, labels, cfg, log=lambda m: None)
    folder = out / "explain"
    figures = write_figures(records, summary["stability"], folder, "oc20-mini (demo)")
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=1) + "\n")
    picture = out / "attribution.png"
    r = records[0]
    save_attribution_png(picture, structures[0], exps[0].environment,
                         f"{r['sid']} ({r['formula']}): predicted {r['energy_pred']:.2f} eV "
                         f"({meta['energy']})")
    report = write_report(out / "report.html", "Meta-LegNet demo: explained oc20-mini test "
                          "frames", summary, structures[:6], exps[:6], records[:6], figures,
                          notes=f"{len(structures)} test frames, target {meta['energy']}.")
    m, ov = summary["masking"], summary["overlap"]
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    print(f"{len(structures)} frames: environment {summary['environment']['mean_size']:.1f} "
          f"atoms on average; IoU vs cutoff {f(ov['cutoff']['iou'])}, vs kNN "
          f"{f(ov['knn']['iou'])}; masking |dE| learned / random / distant: "
          + " / ".join(f((m.get(k) or {}).get("abs_dE")) for k in
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
        f"{env['num_structures']} test frames; environment {env['mean_size']:.1f} atoms on "
        f"average ({env['mean_catalyst_size']:.1f} catalyst) of {env['mean_num_atoms']:.1f}. "
        f"IoU with the {ov['cutoff']['radius_A']} Å cutoff reference {f(ov['cutoff']['iou'])}, "
        f"with the size-matched kNN reference {f(ov['knn']['iou'])}. Interactive 3-D view: "
        "[report.html](report.html); picture: ![attribution](attribution.png)", "",
        "Masking removes the environment's K catalyst atoms (controls: K random, the K "
        "farthest); for a total-energy model abs dE is dominated by the removed atoms' own "
        "energies, the learned part (per-element references subtracted) is the fairer "
        "comparison.", "",
        "| mask | abs dE (eV) | abs dE, learned part (eV) | d abs error (eV) |",
        "|---|---|---|---|", *rows, ""])


def _unseen_elements(train, test) -> dict[str, str]:
    """Per test trajectory, the elements no training structure contains."""
    seen = {int(z) for s in train for z in s.atoms.numbers}
    out: dict[str, str] = {}
    for s in test:
        sid = str(s.atoms.info.get("sid"))
        if sid not in out:
            missing = sorted({a.symbol for a in s.atoms if a.number not in seen})
            out[sid] = " ".join(missing)
    return out


def _report(config, metrics, test, base, result, attribution, seconds, unseen) -> str:
    n = metrics["num_samples"]
    lines = [
        "# Meta-LegNet demo: S2EF on oc20-mini",
        "",
        f"LegNet (full variant, {DEMO_MODEL['num_features']} features, "
        f"{DEMO_MODEL['num_blocks']} blocks, cutoff {config.cutoff} Å) trained for "
        f"{metrics['epochs_run']} epochs ({metrics['steps']} steps, "
        f"{metrics['train_time_s']:.0f} s) on every {config.frame_stride}th frame of "
        "the training trajectories; split by trajectory (sid): "
        f"{n['train']} / {n['val']} / {n['test']} training / validation / test frames.",
        "",
        "Test = every frame of the held-out test trajectories. Energy = DFT **total "
        "energy** (eV); forces in eV/Å on free atoms, MAE over Cartesian components.",
        "",
        "| predictor | energy MAE (eV) | force MAE (eV/Å) |",
        "|---|---|---|",
        f"| LegNet (this run) | {test.get('energy_mae', float('nan')):.3f} | "
        f"{test.get('force_mae', float('nan')):.4f} |",
        f"| training-set mean | {base['train_mean'].get('energy_mae', float('nan')):.3f} | "
        f"{base['train_mean'].get('force_mae', float('nan')):.4f} |",
        f"| per-element linear fit | "
        f"{base['element_linear'].get('energy_mae', float('nan')):.3f} | - |",
        "",
        f"{test['n']} test frames, {test.get('n_force_atoms', 0)} scored atoms. "
        "![parity plot](parity.png)",
        "",
        "Elements of the test trajectories that no training trajectory contains (their "
        "reference energy can only be the mean atom's, so a total-energy error of several "
        "eV per such atom is expected; compare LegNet with the per-element linear fit, "
        "not with zero):",
        "",
        *[f"- {sid}: {symbols or 'none'}" for sid, symbols in unseen.items()],
        "",
        f"Training-set energy MAE in the last epoch: "
        f"{metrics.get('last_train', {}).get('energy_mae', float('nan')):.3f} eV.",
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
