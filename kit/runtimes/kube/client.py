"""The official `kubernetes` client, as the kit uses it: one way to connect, one way to say why not.

Imported only when a command asks for the cluster, so the core never loads the package (it is the
optional extra `kit[k8s]`). Every call has a request timeout: a lost connection is an error the
runtime turns into a cleanup and a message, not a hang.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kit.core.errors import RuntimeUnavailable

REQUEST_TIMEOUT = (10.0, 30.0)     # seconds: connect, read (a watch or a log stream sets its own)
INSTALL_HINT = "pip install 'kit[k8s]' (the official kubernetes client)"


@dataclass(frozen=True, slots=True)
class Api:
    """The API groups the kit calls, sharing one connection pool."""

    client: Any     # kubernetes.client.ApiClient
    core: Any       # CoreV1Api: pods, their logs, nodes
    batch: Any      # BatchV1Api: Jobs
    authz: Any      # AuthorizationV1Api: SelfSubjectAccessReview
    version: Any    # VersionApi

    def close(self) -> None:
        self.client.close()


def module() -> Any:
    """The `kubernetes` package; RuntimeUnavailable (exit 1, with the install line) when it is missing."""
    try:
        import kubernetes
    except ImportError as exc:
        raise RuntimeUnavailable(f"--runtime kubernetes needs the kubernetes client: {INSTALL_HINT}") from exc
    return kubernetes


def connect(context: str | None = None) -> Api:
    """The cluster of the in-cluster service account, else of the kubeconfig ($KUBECONFIG, ~/.kube/config)."""
    kubernetes = module()
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        try:
            # the client reads $KUBECONFIG once, when imported: read it now (a list of paths is merged)
            path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            kubernetes.config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        except (kubernetes.config.ConfigException, OSError, TypeError, ValueError) as exc:
            raise RuntimeUnavailable(f"no cluster to talk to: {short(exc)}; point $KUBECONFIG at a kubeconfig "
                                     "(or run the kit in a pod with a service account)") from exc
    api_client = kubernetes.client.ApiClient(configuration)
    client = kubernetes.client
    return Api(client=api_client, core=client.CoreV1Api(api_client), batch=client.BatchV1Api(api_client),
               authz=client.AuthorizationV1Api(api_client), version=client.VersionApi(api_client))


def server_version(api: Api) -> str:
    """The API server's version (e.g. v1.31.4); RuntimeUnavailable when it does not answer."""
    try:
        return str(api.version.get_code(_request_timeout=REQUEST_TIMEOUT).git_version)
    except Exception as exc:
        raise RuntimeUnavailable(f"the Kubernetes API server at {host(api)} does not answer ({short(exc)}): "
                                 "check the cluster and your kubeconfig") from exc


def host(api: Api) -> str:
    return str(getattr(api.client.configuration, "host", "?"))


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API error (404, 403, 409...), None for a connection error."""
    status = getattr(exc, "status", None)
    return int(status) if isinstance(status, int) and status > 0 else None


def short(exc: BaseException) -> str:
    """One line about an API or connection error: its status and reason, not the response's headers."""
    status = status_of(exc)
    if status is not None:
        reason = getattr(exc, "reason", "") or ""
        body = getattr(exc, "body", None)
        message = ""
        if body:
            import json

            try:
                message = str(json.loads(body).get("message", ""))
            except (ValueError, AttributeError):
                message = ""
        return f"{status} {reason}".strip() + (f": {message}" if message else "")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."
