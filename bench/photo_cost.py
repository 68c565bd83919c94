"""Is the synthetic workload fair? Compare its pipeline cost per megapixel with real photographs.

The study runs on generated JPEGs (kit.workloads.imagegen) because photographs cannot be shipped in
bulk. This script times the study's pipeline (read, decode, INTER_AREA resize to fit 1920x1080,
encode q85; one OpenCV thread) on real camera photographs and on generated images, and prints the
ratio synthetic/real of median ms per megapixel. The requirement is 0.5x-2x; exit status 1 if not.

Real photographs: any directories or files given, or --debian, which downloads Debian packages that
ship camera photographs (lomiri-wallpapers-16.04, lomiri-wallpapers-20.04, mate-backgrounds; about
75 MB) into a temp dir and keeps only the photographs listed in PHOTOGRAPHS (not the renders).

    .venv/bin/python bench/photo_cost.py --debian
    .venv/bin/python bench/photo_cost.py ~/Pictures --min-width 1920
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = ("/usr/share/backgrounds", "/usr/share/wallpapers", "/usr/share/images/desktop-base")
DEBIAN_PACKAGES = ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "mate-backgrounds")
# Camera photographs in DEBIAN_PACKAGES at least 1920 px wide, picked by eye; the other JPEGs there
# are renders or vector art, whose cost says nothing about photos.
PHOTOGRAPHS = frozenset({
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
    "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg", "analogpattern_by_Peter_Nerlich.jpg",
    "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg", "Kleiber_by_Lukas_Baubkus.jpg",
    "Aqua.jpg", "Blinds.jpg", "Garden.jpg", "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg",
    "Wood.jpg", "YellowFlower.jpg",
})
DECODE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def load_imagegen() -> ModuleType:
    """Import kit.workloads.imagegen, or the file alone if the kit package is not importable."""
    sys.path.insert(0, str(REPO))
    try:
        from kit.workloads import imagegen

        return imagegen
    except ImportError:
        path = REPO / "kit" / "workloads" / "imagegen.py"
        spec = importlib.util.spec_from_file_location("kit_imagegen", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def pipeline(path: Path) -> None:
    """The study's per-item work, as in kit.workloads.images.transform."""
    data = path.read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), DECODE_FLAGS)
    height, width = image.shape[:2]
    scale = min(1920 / width, 1080 / height, 1.0)
    size = (max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5)))
    if size != (width, height):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, _ = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok


def measure(path: Path, repeats: int) -> dict[str, float | str]:
    """Median wall time of the pipeline on one file, after one warm-up run."""
    image = cv2.imread(str(path), DECODE_FLAGS)
    height, width = image.shape[:2]
    pipeline(path)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pipeline(path)
        times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1000
    mp = width * height / 1e6
    size = path.stat().st_size
    return {"file": path.name, "wxh": f"{width}x{height}", "mp": mp, "mb": size / 1e6, "ms": ms,
            "ms_mp": ms / mp, "b_px": size / (mp * 1e6)}


def fetch_debian(dest: Path) -> list[Path]:
    """Download and unpack DEBIAN_PACKAGES (no install); return the curated photographs."""
    subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=dest, check=True)
    for deb in sorted(dest.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(dest / "root")], check=True)
    return sorted(p for p in (dest / "root").rglob("*.jpg") if p.name in PHOTOGRAPHS)


def find_photos(paths: list[str], curated: bool) -> list[Path]:
    """JPEG files under the given directories (recursively) and the given files."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found += [f for f in p.rglob("*") if f.suffix.lower() in (".jpg", ".jpeg") and f.is_file()]
        elif p.is_file():
            found.append(p)
    return sorted({f for f in found if not curated or f.name in PHOTOGRAPHS}, key=lambda f: f.name)


def print_table(title: str, rows: list[dict[str, float | str]]) -> None:
    print(f"\n{title}")
    print(f"{'file':42s} {'WxH':>10s} {'MB':>6s} {'ms':>8s} {'ms/MP':>7s} {'B/px':>6s}")
    for r in rows:
        print(f"{str(r['file'])[:42]:42s} {r['wxh']:>10s} {r['mb']:6.2f} {r['ms']:8.1f} "
              f"{r['ms_mp']:7.2f} {r['b_px']:6.3f}")


def summary(label: str, rows: list[dict[str, float | str]]) -> tuple[float, float]:
    ms_mp = statistics.median(float(r["ms_mp"]) for r in rows)
    b_px = statistics.median(float(r["b_px"]) for r in rows)
    print(f"{label:34s} n={len(rows):2d}  median ms/MP {ms_mp:6.2f}  median bytes/px {b_px:.3f}")
    return ms_mp, b_px


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="*", help=f"photo dirs/files (default: {', '.join(DEFAULT_DIRS)})")
    parser.add_argument("--debian", action="store_true", help="fetch the photo packages into a temp dir")
    parser.add_argument("--curated", action="store_true", help="keep only files named in PHOTOGRAPHS")
    parser.add_argument("--min-width", type=int, default=1920)
    parser.add_argument("--count", type=int, default=8, help="synthetic images to generate")
    parser.add_argument("--width", type=int, default=3840)
    parser.add_argument("--height", type=int, default=2160)
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    imagegen = load_imagegen()
    with tempfile.TemporaryDirectory(prefix="photo_cost-") as tmp:
        if args.debian:
            photos = fetch_debian(Path(tmp))
        else:
            photos = find_photos(args.photos or list(DEFAULT_DIRS), args.curated)
        photos = [p for p in photos if (im := cv2.imread(str(p))) is not None and im.shape[1] >= args.min_width]
        if not photos:
            print("no photographs found: pass a directory, or --debian", file=sys.stderr)
            return 2

        cv2.setNumThreads(1)
        real = [measure(p, args.repeats) for p in photos]
        print_table("Real photographs", real)

        start = time.perf_counter()
        cv2.setNumThreads(0)  # generation may use all cores; only the measured pipeline is pinned to one
        pool = imagegen.generate_pool(Path(tmp) / "synthetic", args.count, args.width, args.height,
                                      args.quality, args.seed)
        gen_s = (time.perf_counter() - start) / args.count
        cv2.setNumThreads(1)
        synthetic = [measure(p, args.repeats) for p in pool]
        print_table(f"Synthetic (imagegen v{imagegen.GENERATOR_VERSION}, q{args.quality}, seed {args.seed})",
                    synthetic)

    print()
    real_ms, real_b = summary("real, all", real)
    big = [r for r in real if float(r["mp"]) >= 6.0]
    if big:
        summary("real, >= 6 MP", big)
    syn_ms, syn_b = summary("synthetic", synthetic)
    mean_mb = statistics.mean(float(r["mb"]) for r in synthetic)
    print(f"synthetic mean size {mean_mb:.2f} MB; generation {gen_s * 1000:.0f} ms/image (all cores)")
    ratio = syn_ms / real_ms
    print(f"ratio synthetic/real, median ms/MP: {ratio:.2f}x  (bytes/px: {syn_b / real_b:.2f}x)")
    ok = 0.5 <= ratio <= 2.0
    print("within 0.5x-2x: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
