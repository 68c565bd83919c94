"""The sandbox side: the only code that runs inside a sandbox (the Python worker, its strategies
and workloads, the wire protocol, the program registry, the cgroup sampler, a pod's init step).

`python -m kit.worker` starts the worker (kit/worker/main.py). Nothing here loads the controller:
it may import only itself, kit.core and the cgroup reader kit.measure.cgroupstat (a contract in
pyproject.toml)."""
