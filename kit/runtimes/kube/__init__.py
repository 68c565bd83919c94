"""Kubernetes, as the kit talks to it: Job manifests (pure dicts) and the official client's calls.

Runtime-side, like kit/runtimes/: it knows nothing of workloads, strategies or builds (the caller
passes the worker's command, the image and the inputs' recipe). Only `client.py` imports the
`kubernetes` package (the optional extra `kit[k8s]`); `manifests.py` needs nothing beyond the stdlib.
"""
