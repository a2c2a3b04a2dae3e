"""
Solvers against scikit-learn, measured
======================================

Converged fits (C = 1) on five problems: the time of the best of three fits of each solver,
and how far each stopped from the optimum. The figures are read from
``benchmarks/results/bench_solvers.json``, written by
``python benchmarks/bench_solvers.py --json benchmarks/results/bench_solvers.json``; nothing is
timed here.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# From the repository root, or from examples/engineering/ where the gallery runs this file.
RESULTS = next(p for p in (Path("benchmarks/results"), Path("../../benchmarks/results")) if p.is_dir())
run = json.loads((RESULTS / "bench_solvers.json").read_text())
machine = run["machine"]
print(f"measured {machine['date']} on {machine['cpu']}, {machine['cores']} cores, "
      f"{machine['ram_gib']} GiB; numpy {machine['versions']['numpy']}, "
      f"scikit-learn {machine['versions']['sklearn']}")
print(f"command: {machine['command']}")

# %%
# Seconds per fit (log scale); a missing bar is a solver that run did not time on that problem.
solvers = ["xlogreg estimator", "xlogreg newton-cholesky", "xlogreg newton-cg",
           "sklearn newton-cholesky", "sklearn lbfgs"]
problems = run["problems"]
names = [f"{p['problem']}\n{p['shape'][0]} x {p['shape'][1]}" for p in problems]
width = 0.16
x = np.arange(len(problems))
fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7.5), layout="constrained", sharex=True)
for k, solver in enumerate(solvers):
    seconds = [p["fits"].get(solver, {}).get("seconds_best", np.nan) for p in problems]
    gaps = [p["fits"].get(solver, {}).get("objective_gap", np.nan) for p in problems]
    top.bar(x + (k - 2) * width, seconds, width, label=solver)
    # a gap below the reference (< 0) is drawn at the axis' floor
    bottom.bar(x + (k - 2) * width, np.clip(gaps, 1e-16, None), width, label=solver)
top.set_yscale("log")
top.set_ylabel("seconds per fit (best of 3)")
top.legend(ncols=2, fontsize=8)
bottom.set_yscale("log")
bottom.set_ylabel("objective above the optimum")
bottom.set_xticks(x, names, fontsize=8)
fig.suptitle(f"Converged fits, {machine['cpu']}, {machine['cores']} cores ({machine['date']})")
plt.show()

# %%
# The speed-up of the estimator at its defaults over scikit-learn's faster solver, per problem:
for p in problems:
    print(f"{p['problem']:32s} {p['estimator_speedup_over_fastest_sklearn']:6.2f}x "
          f"(scikit-learn's faster: {p['fastest_sklearn']})")
