"""Inside a pod, before the worker: its manifest and inputs, made from the recipe in the pod spec.

A remote node cannot mount the controller's files, so the controller puts a recipe in the init
container's environment (kit/plan/inputs.py `pod_recipe`): `KIT_MANIFEST`, the worker's manifest
(kit/worker/protocol.py `pack`), and for generated images `KIT_INPUTS`, the generator's parameters and the
sha256 each input must have. The kit's own generator, with the same seed, writes the same bytes as
on the controller: the init container runs it with the lock's OpenCV and NumPy on its path (the
image's /opt/kit/generator; the workers run Debian's build); a digest that differs (another build
in the image) stops the pod here, before any measurement, rather than racing strategies on other
inputs.

Stdlib, the protocol and the generator only: this runs in the sandbox.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from kit.worker.protocol import unpack


def make_inputs(manifest: Path, input_root: Path, output_dir: Path, environ: dict[str, str]) -> str | None:
    """Write the manifest and the inputs; why they could not be made, or None."""
    if "KIT_MANIFEST" not in environ:
        return "no KIT_MANIFEST in the environment: this pod was not made by kit"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(unpack(environ["KIT_MANIFEST"]), encoding="utf-8")
    input_root.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    recipe = json.loads(environ.get("KIT_INPUTS") or "null")
    if not recipe:
        return None   # a task workload: no input files
    from kit.worker.workloads.imagegen import GENERATOR_VERSION, generate_pool

    if recipe["generator_version"] != GENERATOR_VERSION:
        return (f"the controller's image generator is version {recipe['generator_version']}, this image's "
                f"{GENERATOR_VERSION}: use the worker image of the controller's kit version")
    paths = generate_pool(input_root, int(recipe["count"]), int(recipe["width"]), int(recipe["height"]),
                          int(recipe["quality"]), int(recipe.get("seed", 0)))
    for path in paths:
        expected = recipe.get("digests", {}).get(path.name)
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if expected is not None and expected != actual:
            return (f"{path.name} differs from the controller's (sha256 {actual[:12]} here, {expected[:12]} there): "
                    "the image's OpenCV build differs from the controller's; rebuild and push the worker image")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.worker.podinit", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--input-root", type=Path, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    problem = make_inputs(args.manifest, args.input_root, args.output_dir, dict(os.environ))
    if problem:
        print(f"kit inputs: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
