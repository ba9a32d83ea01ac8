"""``report.html``: one self-contained page that works offline.

It inlines the vendored 3Dmol.js build (``assets/3Dmol-min.js``, BSD-3-Clause, see
``assets/README.md``), the structures (XYZ text), importances and environments (JSON) and the
summary figures (base64 PNG). Each structure gets an interactive 3-D view (drag to rotate,
scroll to zoom, hover an atom for its w_i), atoms coloured by importance on the same
colour map as the PNGs, the learned environment drawn with red halos, and a table of its most
important atoms.

The page checks itself once drawn: every viewer's image is read back and its non-background
pixels counted into ``data-drawn-pixels`` on the viewer, uncaught errors and
``console.error`` calls are collected into ``#page-errors`` / ``body[data-errors]``, and
``body[data-selfcheck="done"]`` marks the end (what the headless-browser test reads).
"""

from __future__ import annotations

import base64
import html
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
from ase import Atoms

from metalegnet.explain.environment import Explanation
from metalegnet.explain.pictures import colour_weights, hex_colors
from metalegnet.explain.references import adsorbate_distances

TOP_ATOMS = 10


def viewer_script() -> str:
    """The vendored 3Dmol.js (minified) as text."""
    return (resources.files("metalegnet.explain") / "assets" / "3Dmol-min.js").read_text(
        encoding="utf-8")


def _xyz(atoms: Atoms) -> str:
    lines = [str(len(atoms)), "metalegnet explain"]
    lines += [f"{s} {x:.5f} {y:.5f} {z:.5f}" for s, (x, y, z)
              in zip(atoms.get_chemical_symbols(), atoms.positions)]
    return "\n".join(lines) + "\n"


def structure_payload(atoms: Atoms, ex: Explanation, record: dict) -> dict:
    """What the page needs to draw and tabulate one structure."""
    env = ex.environment
    try:
        dist = adsorbate_distances(atoms)
    except ValueError:
        dist = np.full(len(atoms), np.nan)
    order = np.argsort(-ex.importance, kind="stable")[:TOP_ATOMS]
    symbols, tags, mask = atoms.get_chemical_symbols(), atoms.get_tags(), env.mask
    voxels = env.voxel_index[0] if env.voxel_index else None
    top = [{"index": int(i), "symbol": symbols[i], "tag": int(tags[i]),
            "voxel": None if voxels is None else int(voxels[i]),
            "w": float(ex.importance[i]), "c": float(ex.contributions[i]),
            "env": bool(mask[i]), "d": None if not np.isfinite(dist[i]) else float(dist[i])}
           for i in order]
    cell = atoms.cell.array.tolist() if atoms.pbc.any() else None
    return {"title": f"{record.get('sid')} ({record.get('formula')})", "xyz": _xyz(atoms),
            "colors": hex_colors(ex.importance),
            "colors_rel": hex_colors(colour_weights(env, relative=True)),
            "w": [round(float(w), 4) for w in ex.importance],
            "env": env.indices.tolist(), "symbols": symbols, "cell": cell, "top": top,
            "env_voxels": [int(env.environment_voxels(k).size)
                           for k in range(len(env.voxel_index))],
            "record": {k: record.get(k) for k in ("energy_pred", "label", "environment_size",
                                                  "environment_catalyst_size", "threshold",
                                                  "overlap", "masking")}}


def _png_data(path: str | os.PathLike) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _fmt(v, nd=3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return html.escape(str(v))


def _summary_table(summary: dict) -> str:
    rows = []
    ov = summary.get("overlap", {})
    for ref in ("cutoff", "knn"):
        r = ov.get(ref, {})
        rows.append(f"<tr><td>overlap vs {ref}</td><td>precision {_fmt(r.get('precision'))}, "
                    f"recall {_fmt(r.get('recall'))}, IoU {_fmt(r.get('iou'))} (a random set "
                    f"of the same size: {_fmt(r.get('chance_iou'))})</td></tr>")
    mk = summary.get("masking", {})
    for m in ("learned", "random", "distant"):
        r = mk.get(m) or {}
        rows.append(f"<tr><td>masking {m}</td><td>|ΔE| {_fmt(r.get('abs_dE'))} eV, "
                    f"Δ|error| {_fmt(r.get('d_abs_error'))} eV</td></tr>")
    rows.append(f"<tr><td>masking order (|ΔE|)</td><td>{_fmt(mk.get('ordering_abs_dE'))}"
                "</td></tr>")
    for k, r in summary.get("stability", {}).items():
        rows.append(f"<tr><td>stability: {k}</td><td>mean IoU {_fmt(r.get('mean_iou'))} "
                    f"({r.get('n')} structures)</td></tr>")
    env = summary.get("environment", {})
    rows.append(f"<tr><td>environment</td><td>mean size {_fmt(env.get('mean_size'), 2)} atoms "
                f"({_fmt(env.get('mean_catalyst_size'), 2)} catalyst) of "
                f"{_fmt(env.get('mean_num_atoms'), 1)}; adsorbate only in "
                f"{_fmt(env.get('adsorbate_only_fraction'), 2)} of structures; Otsu scope "
                f"{_fmt(env.get('scope'))}; share of Σ|c<sub>i</sub>| on the adsorbate "
                f"{_fmt(env.get('adsorbate_share'), 2)}; mean gate adsorbate / catalyst "
                f"{_fmt(env.get('gate_adsorbate'), 2)} / {_fmt(env.get('gate_catalyst'), 2)}"
                "</td></tr>")
    return "<table class='summary'>" + "".join(rows) + "</table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em} td,th{border:1px solid #ccc;padding:2px 6px}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em;margin:1em 0}
.row{display:flex;gap:1em;flex-wrap:wrap} .viewer{width:520px;height:400px;position:relative;
border:1px solid #eee} .figs figure{margin:.3em}
.figs img{max-width:560px;border:1px solid #eee}
tr.env td{background:#fde2e4} .bar{display:inline-block;width:160px;height:10px;
background:linear-gradient(to right,#440154,#3b528b,#21918c,#5ec962,#fde725)}
#page-errors{color:#b00}
"""

_APP_JS = r"""
const errors = [];
function noteError(msg){ errors.push(String(msg)); }
function renderStructure(k, s){
  const el = document.getElementById('viewer' + k);
  const viewer = $3Dmol.createViewer(el, {backgroundColor: 'white', antialias: true});
  const model = viewer.addModel(s.xyz, 'xyz');
  const env = new Set(s.env);
  model.selectedAtoms({}).forEach(function(a, i){ a.w = s.w[i]; a.inEnv = env.has(i); });
  const style = function(rel){
    const cols = rel ? s.colors_rel : s.colors;
    viewer.setStyle({}, {sphere: {scale: 0.32, colorfunc: function(a){
      return cols[a.index]; }}});
  };
  style(RELATIVE);
  const box = document.getElementById('relative' + k);
  if (box){ box.checked = RELATIVE;
    box.addEventListener('change', function(){ style(box.checked); viewer.render(); }); }
  model.selectedAtoms({}).forEach(function(a){
    if (a.inEnv) viewer.addSphere({center: {x: a.x, y: a.y, z: a.z}, radius: 0.85,
                                   color: '#e4002b', opacity: 0.35});
  });
  if (s.cell){  // the periodic footprint (a, b) under the lowest atom, not the vacuum
    const c = s.cell;
    const zmin = Math.min.apply(null, model.selectedAtoms({}).map(function(a){ return a.z; }));
    const o = [0, 0, zmin - 0.5];
    const add = (p, q) => [p[0] + q[0], p[1] + q[1], p[2] + q[2]];
    const corners = [o, add(o, c[0]), add(add(o, c[0]), c[1]), add(o, c[1])];
    const edges = [[0,1],[1,2],[2,3],[3,0]];
    edges.forEach(function(e){
      const p = corners[e[0]], q = corners[e[1]];
      viewer.addLine({start: {x: p[0], y: p[1], z: p[2]}, end: {x: q[0], y: q[1], z: q[2]},
                      color: '#999999'});
    });
  }
  let label = null;
  viewer.setHoverable({}, true, function(a){
    if (!label) label = viewer.addLabel(s.symbols[a.index] + ' ' + a.index + '  w=' +
      a.w.toFixed(2) + (a.inEnv ? '  (environment)' : ''), {position: a, fontSize: 12,
      backgroundColor: 'black', backgroundOpacity: 0.7});
  }, function(){ if (label){ viewer.removeLabel(label); label = null; } });
  viewer.zoomTo();
  viewer.render();
  return viewer;
}
function countDrawn(viewer, el){
  return new Promise(function(resolve){
    const img = new Image();
    img.onload = function(){
      const cv = document.createElement('canvas');
      cv.width = img.width; cv.height = img.height;
      const ctx = cv.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let p = 0; p < d.length; p += 4){
        if (d[p + 3] > 0 && (d[p] < 235 || d[p + 1] < 235 || d[p + 2] < 235)) n++;
      }
      el.dataset.drawnPixels = String(n);
      resolve(n);
    };
    img.onerror = function(){ noteError('viewer image could not be read'); resolve(0); };
    img.src = viewer.pngURI();
  });
}
window.addEventListener('load', function(){
  const viewers = [];
  STRUCTURES.forEach(function(s, k){
    try { viewers.push([renderStructure(k, s), document.getElementById('viewer' + k)]); }
    catch (e) { noteError('viewer ' + k + ': ' + e); }
  });
  setTimeout(function(){
    Promise.all(viewers.map(function(v){ return countDrawn(v[0], v[1]); })).then(function(){
      document.getElementById('page-errors').textContent = errors.join('\n');
      document.body.dataset.errors = String(errors.length);
      document.body.dataset.selfcheck = 'done';
    });
  }, 300);
});
"""

_ERROR_HOOK = """
window.__errors = [];
window.addEventListener('error', function(e){ (window.noteError || function(m){
  window.__errors.push(m); })(e.message); });
const _consoleError = console.error;
console.error = function(){ (window.noteError || function(m){ window.__errors.push(m); })(
  Array.from(arguments).join(' ')); _consoleError.apply(console, arguments); };
"""


def _structure_card(k: int, s: dict) -> str:
    rec = s["record"]
    ov = rec.get("overlap") or {}
    ovtxt = ", ".join(f"IoU vs {r} {_fmt(ov[r]['iou'], 2)}" for r in ("cutoff", "knn")
                      if r in ov)
    mk = (rec.get("masking") or {}).get("learned") or {}
    rows = "".join(
        f"<tr class='{'env' if a['env'] else ''}'><td>{r + 1}</td><td>{a['index']}</td>"
        f"<td>{a['symbol']}</td><td>{a['tag']}</td><td>{a['w']:.3f}</td><td>{a['c']:+.4f}</td>"
        f"<td>{'yes' if a['env'] else ''}</td><td>{_fmt(a['d'], 2)}</td>"
        f"<td>{_fmt(a['voxel'])}</td></tr>"
        for r, a in enumerate(s["top"]))
    thr = rec.get("threshold")
    vox = ("<p>the environment spans " + ", ".join(
        f"{n} voxel(s) at coarse level {k + 1}" for k, n in enumerate(s["env_voxels"]))
        + "</p>") if s["env_voxels"] else ""
    return (
        f"<div class='card'><h3>{k + 1}. {html.escape(s['title'])}</h3>"
        f"<p>predicted {_fmt(rec.get('energy_pred'))} eV, label {_fmt(rec.get('label'))} eV; "
        f"environment {rec.get('environment_size')} atoms "
        f"({rec.get('environment_catalyst_size')} catalyst), Otsu t = "
        f"{'undefined' if thr is None else f'{thr:.3g}'}"
        f"{'; ' + ovtxt if ovtxt else ''}"
        f"{'; masking it moves E by ' + _fmt(mk.get('abs_dE')) + ' eV' if mk else ''}</p>"
        f"<div class='row'><div><div class='viewer' id='viewer{k}'></div>"
        f"<label><input type='checkbox' id='relative{k}'> colour by w_i / max over catalyst "
        "atoms</label></div><div>"
        "<table><tr><th>#</th><th>atom</th><th>el.</th><th>tag</th><th>w_i</th><th>c_i</th>"
        f"<th>env.</th><th>d to adsorbate (Å)</th><th>voxel (level 1)</th></tr>{rows}"
        f"</table>{vox}</div></div></div>")


def write_report(path: str | os.PathLike, title: str, summary: dict,
                 structures: list[Atoms], explanations: list[Explanation],
                 records: list[dict], figures: dict[str, Path], notes: str = "",
                 relative: bool = False) -> Path:
    """Write the self-contained ``report.html`` (atomic) and return its path; ``relative``:
    the viewers start coloured by w_i / max over the catalyst atoms (a checkbox toggles)."""
    from metalegnet.config import atomic_write_text

    payload = [structure_payload(a, e, r) for a, e, r in zip(structures, explanations, records)]
    data = json.dumps(payload).replace("</", "<\\/")
    figs = "".join(f"<figure><img alt='{html.escape(n)}' src='{_png_data(p)}'>"
                   f"<figcaption>{html.escape(n)}</figcaption></figure>"
                   for n, p in figures.items())
    cards = "".join(_structure_card(k, s) for k, s in enumerate(payload))
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{_ERROR_HOOK}</script><script>{viewer_script()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<p>Importance w<sub>i</sub> = |c<sub>i</sub>| / max<sub>j</sub> |c<sub>j</sub>| "
        "(eq. 31) from the readout E = Σ c<sub>i</sub> + b<sub>G</sub>; the learned "
        "adsorption environment is the Otsu foreground of {w<sub>i</sub>} plus the adsorbate "
        "(eq. 32). Colour: <span class='bar'></span> 0 → 1; red halo: environment. "
        "Drag to rotate, scroll to zoom, hover an atom.</p>"
        f"{'<p>' + html.escape(notes) + '</p>' if notes else ''}"
        f"<h2>Summary</h2>{_summary_table(summary)}"
        f"<h2>Structures</h2>{cards}"
        f"<h2>Figures</h2><div class='figs row'>{figs}</div><pre id='page-errors'></pre>"
        f"<script>const STRUCTURES = {data}; const RELATIVE = {json.dumps(bool(relative))};"
        f"{_APP_JS}"
        "window.__errors.forEach(noteError);</script></body></html>")
    atomic_write_text(path, page)
    return Path(path)
