"""Which builds a run's workers ran, for results.json's environment: the Go toolchain of the host's
Go workers, the OpenCV behind the Python workers, the free-threaded interpreter. Whether the host's
builds apply is the runtime's to say (`Capabilities.image`), not its name's."""

from __future__ import annotations

from kit.plan.config import RunConfig
from kit.runtimes.base import Capabilities
from kit.worker.programs import program


def builds_used(runtime: Capabilities, strategies: list[str], config: RunConfig, workload: str) -> dict[str, object]:
    """`go_toolchain`, `python_system_opencv` and `python_free_threaded`, as far as the run's strategies use them."""
    used: dict[str, object] = {}
    if not runtime.image and any(program(name).language == "go" for name in strategies):   # else the image's Go
        from kit.build.go import toolchain_used

        used["go_toolchain"] = toolchain_used(config.cache_dir)
    if (workload == "images" and config.library == "opencv"
            and any(program(name).language == "python" for name in strategies)):
        # which OpenCV the Python workers ran, and why: the image's is always the distribution's
        from kit.build import system_opencv

        used["python_system_opencv"] = (system_opencv.IN_IMAGE if runtime.image
                                        else system_opencv.describe(config.cache_dir))
    if any(program(name).free_threaded for name in strategies):
        from kit.build import freethreaded

        if not freethreaded.uses_image_build(runtime):   # the local image's labels say what it carries
            used["python_free_threaded"] = freethreaded.describe(config.cache_dir)
    return used
