# MAGT's synthetic benchmark: the results table, the sample scatter grid and the sensitivity
# figure. The benchmark jobs
# themselves (one per dataset x method x seed) and their aggregate are the generic sweep of
# sweeps.smk; this file only adds what a sweep cannot express. Absent (no rules, no targets)
# when the config has no `benchmark` experiment. Science: magt_theory.benchmark_report
# (command line: `magt-theory benchmark-report`, magt_theory.cli._benchmark).

if "benchmark" in EXPS:
    BENCHMARK_TARGETS = [
        f"results/{NAME}/benchmark_table.csv",
        f"results/{NAME}/benchmark_table.md",
        f"paper_figures/{NAME}/benchmark_scatter.pdf",
        f"paper_figures/{NAME}/benchmark_scatter.png",
    ]
    SWEEP_TARGETS.extend(BENCHMARK_TARGETS)  # picked up by `rule all` of the Snakefile

    # NB: with no sweep figure in the config (FIGS empty), sweeps.smk's constraint fig=""
    # constrains nothing and Snakemake reports (harmlessly) that rule `figure` cannot make
    # benchmark_scatter; `fig="|".join(FIGS) or "(?!)"` there would silence it.

    rule benchmark_table:
        input:
            "results/{cfg}/benchmark.parquet",
        output:
            csv="results/{cfg}/benchmark_table.csv",
            md="results/{cfg}/benchmark_table.md",
        log:
            "results/{cfg}/logs/benchmark_table.log",
        shell:
            "{PY} -m magt_theory benchmark-report {input} --out-dir results/{wildcards.cfg} "
            "> {log} 2>&1"

    rule benchmark_scatter:
        input:
            "results/{cfg}/benchmark.parquet",
        output:
            pdf="paper_figures/{cfg}/benchmark_scatter.pdf",
            png=report("paper_figures/{cfg}/benchmark_scatter.png", category="{cfg}"),
        log:
            "results/{cfg}/logs/benchmark_scatter.log",
        shell:
            "MPLBACKEND=Agg {PY} -m magt_theory benchmark-report {input} "
            "--figure paper_figures/{wildcards.cfg}/benchmark_scatter > {log} 2>&1"

# MAGT's sensitivity figure (W2 vs n, K, t on the six datasets): jobs and aggregate are the
# generic sweep's (experiment `sensitivity`); the claim rows come from the generic verdicts rule
# (magt_theory.benchmark_claims via magt_theory.claims). Absent without that experiment.
if "sensitivity" in EXPS:
    SWEEP_TARGETS.extend([
        f"paper_figures/{NAME}/benchmark_sensitivity.pdf",
        f"paper_figures/{NAME}/benchmark_sensitivity.png",
    ])

    rule benchmark_sensitivity:
        input:
            "results/{cfg}/sensitivity.parquet",
        output:
            pdf="paper_figures/{cfg}/benchmark_sensitivity.pdf",
            png=report("paper_figures/{cfg}/benchmark_sensitivity.png", category="{cfg}"),
        log:
            "results/{cfg}/logs/benchmark_sensitivity.log",
        shell:
            "MPLBACKEND=Agg {PY} -m magt_theory benchmark-report {input} "
            "--sensitivity paper_figures/{wildcards.cfg}/benchmark_sensitivity > {log} 2>&1"
