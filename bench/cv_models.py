"""Do the Senses defaults carry over to words *and* models they were not chosen on? (issue 14)

``bench/cv_senses.py`` chooses a sense-induction setting on half of the shared words and scores it on the other half,
for one model. This script reads its per-word rows for two or more models (``--only ... --rows`` of each, run with
``--model``) and asks three questions, on the same 20 seeded halvings of the words as ``cv_senses.py``:

- **joint**: the setting with the best objective *averaged over the models* on the choosing half of the words, scored
  on the held-out half for each model;
- **transfer**: the setting chosen on one model's choosing half, scored on *another* model's held-out half (unseen
  words and an unseen model: the strictest test of a default);
- **fixed**: named settings (the old, the shipped and any ``--setting``) on the same held-out halves, per model.

``--restrict REGEX`` limits the candidates (e.g. the one-sense thresholds of k-means at the last layer).
``--shift MODEL...`` asks the same of shift-rank's own senses instead: the one-sense threshold of
``analysis.shift.cluster_labels`` at the shift default layer rule, objective = mean over the models of Spearman's
rho of JSD with graded change, per gold (DWUG, SemEval), from the cache that ``bench/cv_data.py --model`` fills.

Layer rules are compared by name relative to the depth: ``cv_senses.py``'s ``layer {L-2}`` (layer 4 of MiniLM's 6,
layer 10 of a 12-layer model) is renamed ``L-2``. Objective = mean of CoarseWSD ARI at the induced k, DWUG ARI over
all targets and DWUG JSD rho with change_graded, as in ``cv_senses.py``. Run from the project root::

    .venv/bin/python bench/cv_models.py --model minilm cw.csv dw.csv --model mpnet cw12.csv dw12.csv
    .venv/bin/python bench/cv_models.py --shift default models/all-mpnet-base-v2
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared bench helpers (bench/ is no package)

import cv_data  # noqa: E402
from cv_senses import OLD_DEFAULT, PREVIOUS, SHIPPED, Scorer, objective  # noqa: E402

from analysis import senses  # noqa: E402


def _relative_names(table: pd.DataFrame) -> pd.DataFrame:
    """``layer N`` -> ``L-2`` (the one single-layer rule of cv_senses.py without --full)."""
    singles = {m.group(1) for m in table.layer.astype(str).map(lambda s: re.fullmatch(r"layer (\d+)", s)) if m}
    if len(singles) > 1:
        raise SystemExit(f"rows hold several single-layer rules {sorted(singles)}: run cv_senses.py without --full")
    out = table.copy()
    for n in singles:
        out["setting"] = out.setting.str.replace(f"@ layer {n}", "@ L-2", regex=False)
        out["layer"] = out.layer.replace(f"layer {n}", "L-2")
    return out


def load(models: list[list[str]]) -> dict[str, Scorer]:
    scorers = {}
    for name, *paths in models:
        table = _relative_names(pd.concat([pd.read_csv(p) for p in paths], ignore_index=True))
        change = cv_data.gold_values(cv_data.read_golds()["dwug"], table[table.dataset == "dwug"].word.unique())
        scorers[name] = Scorer(table, change)
    return scorers


def _common(scorers: dict[str, Scorer]) -> tuple[list, list, list]:
    first = next(iter(scorers.values()))
    settings = [s for s in first.settings if all(s in sc.settings for sc in scorers.values())]
    cw = [w for w in first.cw.columns if all(w in sc.cw.columns for sc in scorers.values())]
    dw = [w for w in first.dw.columns if all(w in sc.dw.columns for sc in scorers.values())]
    return settings, cw, dw


def _crit(sc: Scorer, settings, cw, dw) -> pd.DataFrame:
    crit = sc.criteria(cw, dw).loc[settings]
    crit["objective"] = objective(crit, "combined")
    return crit


def run(scorers: dict[str, Scorer], splits: int, seed: int, fixed: list[str], restrict: str | None = None) -> dict:
    settings, cw, dw = _common(scorers)
    if restrict:
        settings = [s for s in settings if re.search(restrict, s) or s in fixed]
    halves = list(zip(cv_data.halvings(cw, splits, seed), cv_data.halvings(dw, splits, seed + 1)))
    names = list(scorers)
    joint, transfer, chosen = [], {(a, b): [] for a in names for b in names if a != b}, []
    held_fixed = {s: {m: [] for m in names} for s in fixed}
    for (c_in, c_out), (d_in, d_out) in halves:
        crit_in = {m: _crit(sc, settings, c_in, d_in) for m, sc in scorers.items()}
        crit_out = {m: _crit(sc, settings, c_out, d_out) for m, sc in scorers.items()}
        mean_obj = pd.concat([c["objective"] for c in crit_in.values()], axis=1).mean(axis=1, skipna=False)
        pick = mean_obj.idxmax()
        chosen.append(pick)
        joint.append({m: crit_out[m].loc[pick] for m in names})
        for a, b in transfer:
            transfer[(a, b)].append(crit_out[b].loc[crit_in[a]["objective"].idxmax()])
        for s in fixed:
            for m in names:
                held_fixed[s][m].append(crit_out[m].loc[s])
    full = {m: _crit(sc, settings, cw, dw) for m, sc in scorers.items()}
    in_sample = pd.concat([full[m]["objective"].rename(m) for m in names], axis=1)
    in_sample["mean"] = in_sample.mean(axis=1, skipna=False)
    return {"settings": len(settings), "cw": cw, "dw": dw, "names": names,
            "joint": {m: pd.DataFrame([j[m] for j in joint]) for m in names},
            "chosen": pd.Series(chosen).value_counts(),
            "transfer": {k: pd.DataFrame(v) for k, v in transfer.items()},
            "fixed": {s: {m: pd.DataFrame(v) for m, v in d.items()} for s, d in held_fixed.items()},
            "full": full, "in_sample": in_sample.sort_values("mean", ascending=False)}


def _fmt(df: pd.DataFrame) -> str:
    m, s = df.mean(), df.std()
    return "  ".join(f"{k} {m[k]:.3f} ± {s[k]:.3f}" for k in ("cw_ari", "dwug_ari", "jsd_rho", "objective"))


def report(r: dict, fixed: list[str]) -> dict:
    n = len(next(iter(r["joint"].values())))
    print(f"{len(r['cw'])} CoarseWSD-20 words, {len(r['dw'])} DWUG targets, {r['settings']} settings common to "
          f"{', '.join(r['names'])}; {n} halvings of the words (held-out halves: mean ± sd)\n")
    print("In-sample objective per model, best 8 by the mean over models (all words):")
    print(r["in_sample"].head(8).round(3).to_string())
    best = r["in_sample"].index[0]
    print("\nJoint choice (best mean objective over the models on the choosing half), held-out half per model:")
    for m, df in r["joint"].items():
        print(f"  {m:<10} {_fmt(df)}")
    print("  chosen: " + ", ".join(f"{s} x{c}" for s, c in r["chosen"].items()))
    print("\nTransfer (chosen on one model's choosing half, scored on another model's held-out half):")
    for (a, b), df in r["transfer"].items():
        print(f"  {a} -> {b:<10} {_fmt(df)}")
    print("\nFixed settings on the same held-out halves, per model:")
    for s, per in r["fixed"].items():
        for m, df in per.items():
            print(f"  {s:<28} {m:<10} {_fmt(df)}")
    print("\nAll words, per model (in-sample figures of the fixed settings and of the joint in-sample best):")
    out = {}
    for s in dict.fromkeys(fixed + [best]):
        for m, crit in r["full"].items():
            row = crit.loc[s]
            out[f"{s} | {m}"] = row.to_dict()
            print(f"  {s:<28} {m:<10} " + "  ".join(f"{k} {row[k]:.3f}" for k in row.index))
    return out


def shift_run(models: list[str], splits: int, seed: int) -> None:
    """Joint leave-targets-out choice of shift-rank's one-sense threshold over ``models`` (see the module text)."""
    import warnings

    from cv_shift import THRESHOLDS, _default_rule, _rho, jsd_table

    warnings.filterwarnings("ignore", message="An input array is constant")
    golds = cv_data.read_golds()
    tables, rule = {}, {}
    for m in models:
        targets = cv_data.dwug_targets(None if m == "default" else m)
        rule[m] = _default_rule(max(targets[0].layers))
        tables[m] = jsd_table(targets, rule_names=[rule[m]]).assign(rule=lambda t: t.threshold)
    print(f"shift-rank's senses at the shift default layer rule ({', '.join(f'{m}: {r}' for m, r in rule.items())}); "
          f"one-sense thresholds {', '.join(map(str, THRESHOLDS))} and stability; {splits} halvings of the targets\n")
    shipped, previous = str(senses.DEFAULT_MIN_SILHOUETTE), "0.15"
    for gname, gold in golds.items():
        words = next(iter(tables.values())).word.unique()
        vals = pd.Series(cv_data.gold_values(gold, list(words))).sort_index()
        halves = cv_data.halvings(list(vals.index), splits, seed)

        def rho(m, words):
            return _rho(tables[m], "jsd", vals, words)

        held, chosen, fixed = {m: [] for m in models}, [], {m: [] for m in models}
        for a, b in halves:
            pick = pd.concat([rho(m, a) for m in models], axis=1).mean(axis=1, skipna=False).idxmax()
            chosen.append(pick)
            for m in models:
                out = rho(m, b)
                held[m].append(out[pick])
                fixed[m].append(out)
        full = pd.concat([rho(m, vals.index).rename(m) for m in models], axis=1)
        full["mean"] = full.mean(axis=1, skipna=False)
        print(f"== {gname} ({len(vals)} targets): rho of JSD with graded change, all targets (held-out halves)")
        for s_ in full.sort_values("mean", ascending=False).index:
            cells = "  ".join(f"{m} {full.loc[s_, m]:6.3f} ({pd.DataFrame(fixed[m])[s_].mean():6.3f})" for m in models)
            mark = {shipped: "  <- shipped", previous: "  <- previous default"}.get(s_, "")
            print(f"  {s_:<10} {cells}  mean {full.loc[s_, 'mean']:6.3f}{mark}")
        print("  joint CV choice, held-out halves: "
              + ", ".join(f"{m} {np.nanmean(held[m]):.3f} ± {np.nanstd(held[m]):.3f}" for m in models)
              + "; chosen: " + ", ".join(f"{k} x{v}" for k, v in pd.Series(chosen).value_counts().items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", action="append", metavar=("NAME", "ROWS"),
                    help="a model's name and its cv_senses.py --rows files (CoarseWSD and DWUG)")
    ap.add_argument("--setting", action="append", default=[], help="a further fixed setting to score")
    ap.add_argument("--restrict", help="only the settings matching this regular expression (and the fixed ones)")
    ap.add_argument("--shift", nargs="+", metavar="MODEL",
                    help="shift-rank's one-sense threshold instead: models ('default' = the packaged MiniLM)")
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.shift:
        shift_run(args.shift, args.splits, args.seed)
        return 0
    if not args.model or len(args.model) < 2 or any(len(m) < 2 for m in args.model):
        ap.error("give --model NAME ROWS... at least twice")
    fixed = list(dict.fromkeys([OLD_DEFAULT, PREVIOUS, SHIPPED, *args.setting]))
    r = run(load(args.model), args.splits, args.seed, fixed, args.restrict)
    out = report(r, fixed)
    if args.json:
        js = {"joint": {m: df.mean().to_dict() for m, df in r["joint"].items()}, "chosen": r["chosen"].to_dict(),
              "transfer": {f"{a}->{b}": df.mean().to_dict() for (a, b), df in r["transfer"].items()},
              "fixed": {s: {m: df.mean().to_dict() for m, df in d.items()} for s, d in r["fixed"].items()},
              "all_words": out}
        Path(args.json).write_text(json.dumps(js, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
