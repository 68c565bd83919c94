"""Typed errors: library code raises these, only cli.py turns them into exit codes."""


class KitError(Exception):
    """Base class: something the user can act on. `exit_code` follows product.md section 4."""

    exit_code = 1


class ConfigError(KitError):
    """Invalid usage: a bad option value or combination (exit 2)."""

    exit_code = 2


class EnvironmentProblem(KitError):
    """The kit's environment cannot do the job: no cgroup, no engine, no disk (exit 1)."""

    exit_code = 1


class RuntimeUnavailable(EnvironmentProblem):
    """The chosen runtime cannot run sandboxes here; the message says how to fix it."""
