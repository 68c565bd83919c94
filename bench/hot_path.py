"""The kit's hot-path cost: the bare pipeline against the kit's python-sequential worker.

Both run as fresh processes over the same batch (the kit's generated 4K images), one item after
another, OpenCV threads = 1, stdout to /dev/null; CPU seconds come from the kernel (wait4's
rusage, user + system) of each process. Pairs are interleaved, their order alternating, and the
script prints median [min-max] of the ratio kit/bare:
- CPU seconds per image, whole process (interpreter start and imports included, as in a sandbox);
- CPU seconds per image of the items alone (each process's empty-batch CPU subtracted);
- the GIL-free fraction of each pipeline (kit/gil_probe.py), which must agree within noise.

    python bench/hot_path.py --pairs 5 --images 48

Run it on a quiet machine: nothing else (no build, no test suite) while it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import spread  # noqa: E402

BARE = r"""
import sys, time
from pathlib import Path
import cv2, numpy as np
cv2.setNumThreads(1)
root, out, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION

def one(index, name):
    with open(root / name, "rb") as handle:
        data = handle.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    height, width = image.shape[:2]
    scale = min(1920 / width, 1080 / height, 1.0)
    size = (max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5)))
    if size != (width, height):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    with open(out / f"{index:06d}.jpg", "wb") as handle:
        handle.write(encoded.tobytes())

if names and names[0] == "--gil-probe":
    from kit.gil_probe import measure
    import json, tempfile
    items = names[1:]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        print(json.dumps(measure(lambda i: one(i, items[i]), len(items)).to_json()))
else:
    for index, name in enumerate(names):
        one(index, name)
"""


def cpu_of(argv: list[str]) -> float:
    """CPU seconds (user + system) of one child process, from the kernel."""
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:4]} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return usage.ru_utime + usage.ru_stime


def bare(root: Path, out: Path, names: list[str]) -> list[str]:
    return [sys.executable, "-c", BARE, str(root), str(out), *names]


def kit_worker(root: Path, out: Path, names: list[str], scratch: Path) -> list[str]:
    """The exact command line the runner gives a python-sequential sandbox (runner.WorkerCommand)."""
    from kit.protocol import ManifestEntry, write_manifest
    from kit.runner import WorkerCommand
    from kit.runtimes.base import SandboxPaths

    manifest = scratch / f"manifest-{len(names)}.json"
    write_manifest(manifest, [ManifestEntry(name=f"{i:06d}-{n}", input=n, output=f"{i:06d}.jpg")
                              for i, n in enumerate(names)])
    paths = SandboxPaths(python=sys.executable, input_root=root, output_dir=out, manifest=manifest)
    return WorkerCommand("python-sequential", "images", 1, "fork")(paths)


def probe(argv: list[str]) -> float:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["fraction"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--resolution", default="4k")
    args = parser.parse_args()
    if args.pairs < 5:
        raise SystemExit("--pairs: at least 5 (a ratio rests on at least 5 interleaved pairs)")
    from kit import config
    from kit.input_check import judge_file
    from kit.inputs import generate

    plan = config.build(resolution=args.resolution, items=args.images)
    pool = generate(plan)
    root = pool[0].parent
    names = [pool[i % len(pool)].name for i in range(args.images)]
    assert all(judge_file(root / n).problem is None for n in set(names))
    totals, items_only, fractions = [], [], {"bare": list[float](), "kit": list[float]()}
    with tempfile.TemporaryDirectory(prefix="kit-hot-path-") as scratch_dir:
        scratch = Path(scratch_dir)
        out = scratch / "out"
        out.mkdir()
        commands = {"bare": (bare(root, out, names), bare(root, out, [])),
                    "kit": (kit_worker(root, out, names, scratch), kit_worker(root, out, [], scratch))}
        probes = {"bare": bare(root, out, ["--gil-probe", *sorted(set(names))[:8]]),
                  "kit": [sys.executable, "-m", "kit.gil_probe", "--input-root", str(root), *sorted(set(names))[:8]]}
        for pair in range(args.pairs):
            order = ["bare", "kit"] if pair % 2 == 0 else ["kit", "bare"]
            cpu: dict[str, tuple[float, float]] = {}
            for side in order:
                full, empty = commands[side]
                cpu[side] = (cpu_of(full), cpu_of(empty))
                fractions[side].append(probe(probes[side]))
            per_image = {side: full / args.images for side, (full, _) in cpu.items()}
            marginal = {side: (full - empty) / args.images for side, (full, empty) in cpu.items()}
            totals.append(per_image["kit"] / per_image["bare"])
            items_only.append(marginal["kit"] / marginal["bare"])
            print(f"pair {pair + 1}: CPU ms/image bare {per_image['bare'] * 1000:.1f} kit {per_image['kit'] * 1000:.1f}"
                  f" (items alone {marginal['bare'] * 1000:.1f} / {marginal['kit'] * 1000:.1f}); startup CPU s"
                  f" bare {cpu['bare'][1]:.2f} kit {cpu['kit'][1]:.2f}; GIL-free f bare {fractions['bare'][-1]:.3f}"
                  f" kit {fractions['kit'][-1]:.3f}", flush=True)
    print(f"\n{args.images} {args.resolution} images, {args.pairs} interleaved pairs")
    print(f"kit/bare CPU seconds per image, whole process:   {spread(totals)}   (goal <= 1.02)")
    print(f"kit/bare CPU seconds per image, items alone:     {spread(items_only)}")
    for side in ("bare", "kit"):
        values = fractions[side]
        median = statistics.median(values)
        ceiling = "unbounded" if median >= 1 else f"{1 / (1 - median):.1f}x"
        print(f"GIL-free fraction f, {side:4}: {median:.3f} [{min(values):.3f}-{max(values):.3f}]"
              f"  -> thread ceiling 1/(1-f) = {ceiling}")


if __name__ == "__main__":
    main()
