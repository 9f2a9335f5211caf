# magt_theory: the main workflow. Default target: verdicts and figures of the chosen config.
#   snakemake --cores 2                                           # default config
#   snakemake --cores 2 --configfile workflows/config/smoke.yaml  # seconds
#   snakemake --profile workflows/profiles/slurm --configfile workflows/config/paper.yaml
# Rules only wire config points to library calls (magt_theory.workflow / magt_theory.cli).

# --configfile replaces the default config (Snakemake would otherwise merge the two)
if not config:

    configfile: "workflows/config/default.yaml"



include: "workflows/sweeps.smk"
include: "workflows/benchmark.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        SWEEP_TARGETS,
