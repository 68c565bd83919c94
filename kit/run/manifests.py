"""`kit manifests`: the Jobs a `kit run --runtime kubernetes` would create, without a cluster.

For users who apply them with their own tools (GitOps, `kubectl apply -f -`). The plan is the run's
(one Job per requested strategy x repetition, x workers x cap for a sweep's grid), whatever is
built on this machine: the image carries every program. The inputs are not made here: each pod
generates them from the recipe in its spec (kit/worker/podinit.py), so printing needs no image generation,
no kubeconfig and no cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.core.errors import ConfigError
from kit.plan.cells import plan_cells
from kit.plan.config import RunConfig
from kit.plan.inputs import planned_entries, pod_recipe
from kit.report.console import Consoles
from kit.run.choose import cluster_settings
from kit.run.sandboxes import sandbox_spec
from kit.runtimes.kube.manifests import check_recipe, job_manifest, request_for
from kit.runtimes.kubernetes import KubernetesRuntime
from kit.worker.programs import NAMES, program


def requested_strategies(config: RunConfig) -> list[str]:
    """The strategies asked for, or every one that runs the workload (the image has them all)."""
    for name in config.strategies:
        if problem := program(name).workload_problem(config.workload, config.library):
            raise ConfigError(f"strategy {name} is not available: {problem}")
    return list(config.strategies) or [name for name in NAMES
                                       if program(name).workload_problem(config.workload, config.library) is None]


def job_manifests(config: RunConfig, run_id: str, bin_dir: Path | None) -> list[dict[str, Any]]:
    """One Job per cell of the plan, in the order a run would create them."""
    recipes = {}
    for language in ("python", "go"):
        entries = planned_entries(config, language)
        recipes[language] = pod_recipe(config, entries)
        if problem := check_recipe(recipes[language][0]):
            raise ConfigError(problem)
    cluster = cluster_settings(config)
    jobs = []
    for cell in plan_cells(config, requested_strategies(config)):
        spec = sandbox_spec(run_id, cell, config, Path("/kit/manifest.json"), Path("/kit/input"),
                            Path("/kit/output"), Path("/kit/logs"),
                            remote_inputs=recipes[program(cell.strategy).language])
        jobs.append(job_manifest(request_for(spec, bin_dir), cluster))
    return jobs


def yaml_stream(documents: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream (`---` between documents), keys in the manifests' own order."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:   # no &id001 anchors: plain, self-contained documents
            return True

    return yaml.dump_all(documents, Dumper=Dumper, sort_keys=False, default_flow_style=False, explicit_start=True)


def print_jobs(config: RunConfig, say: Consoles) -> None:
    """`kit manifests`: the Jobs as YAML on stdout, a line on stderr saying how to apply them."""
    import sys

    from kit.build.image import BIN_DIR
    from kit.run.runner import new_run_id

    if config.runtime != KubernetesRuntime.name:   # the Jobs are that runtime's sandboxes, by definition
        raise ConfigError(f"--runtime {config.runtime}: kit manifests prints Kubernetes Jobs; omit --runtime")
    run_id = new_run_id()
    jobs = job_manifests(config, run_id, BIN_DIR)
    sys.stdout.write(yaml_stream(jobs))
    say.err.print(f"{len(jobs)} Jobs (label kit.dev/run={run_id}) in namespace {config.namespace}; "
                  "apply with: kubectl apply -f -", highlight=False, soft_wrap=True)
