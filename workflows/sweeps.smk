# Sweeps over t, K, n and D: one job per sweep point (seed included), an aggregate per
# experiment, the verdicts table and the figures. No science here: see magt_theory.experiments.
import json
import shlex
import sys
from pathlib import Path

from magt_theory import experiments
from magt_theory import workflow as mtw

CFG = mtw.load_config(config, Path(workflow.main_snakefile).parent / "workflows/config/schema.json")
NAME = CFG["name"]
THREADS = CFG.get("threads", 1)
EXPS = list(CFG["experiments"])
POINTS = {e: mtw.points(CFG, e) for e in EXPS}
FIGS = list(experiments.figures(EXPS))
PY = shlex.quote(sys.executable)
# The per-experiment aggregates are targets too: the committed verdicts.csv and figures alone
# would make a fresh clone look finished (their inputs are not committed), so the aggregates
# make a fresh clone recompute everything, after which verdicts and figures are re-made.
SWEEP_TARGETS = (
    [f"results/{NAME}/verdicts.csv"]
    + expand("results/{cfg}/{experiment}.parquet", cfg=NAME, experiment=EXPS)
    + expand("paper_figures/{cfg}/{fig}.{ext}", cfg=NAME, fig=FIGS, ext=["pdf", "png"])
)


localrules:
    aggregate,
    verdicts,
    figure,


wildcard_constraints:
    cfg=NAME,
    experiment="|".join(EXPS),
    point="[^/]+",
    fig="|".join(FIGS) or "(?!)",


rule point:
    output:
        "results/{cfg}/{experiment}/{point}.parquet",
    params:
        spec=lambda w: shlex.quote(json.dumps(POINTS[w.experiment][w.point], sort_keys=True)),
    log:
        "results/{cfg}/logs/{experiment}/{point}.log",
    threads: THREADS
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 60 * attempt,
    shell:
        # thread counts in the environment before the interpreter starts (BLAS/OpenMP pools
        # read them once, when numpy or torch load them)
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} "
        "{PY} -m magt_theory run-point --experiment {wildcards.experiment} "
        "--config-name {wildcards.cfg} --params {params.spec} --threads {threads} "
        "--out {output} > {log} 2>&1"


rule aggregate:
    input:
        lambda w: expand(
            "results/{cfg}/{experiment}/{point}.parquet",
            cfg=w.cfg, experiment=w.experiment, point=POINTS[w.experiment],
        ),
    output:
        "results/{cfg}/{experiment}.parquet",
    log:
        "results/{cfg}/logs/aggregate_{experiment}.log",
    shell:
        "{PY} -m magt_theory aggregate --out {output} {input} > {log} 2>&1"


rule verdicts:
    input:
        expand("results/{{cfg}}/{experiment}.parquet", experiment=EXPS),
    output:
        "results/{cfg}/verdicts.csv",
    params:
        boot=CFG.get("bootstrap", 1000),
    log:
        "results/{cfg}/logs/verdicts.log",
    shell:
        "{PY} -m magt_theory verdicts --n-boot {params.boot} --out {output} {input} > {log} 2>&1"


rule figure:
    input:
        lambda w: f"results/{w.cfg}/{experiments.figures()[w.fig][0]}.parquet",
    output:
        pdf="paper_figures/{cfg}/{fig}.pdf",
        png=report("paper_figures/{cfg}/{fig}.png", category="{cfg}"),
    log:
        "results/{cfg}/logs/figure_{fig}.log",
    shell:
        "MPLBACKEND=Agg {PY} -m magt_theory figure {wildcards.fig} {input} "
        "--out paper_figures/{wildcards.cfg}/{wildcards.fig} > {log} 2>&1"
