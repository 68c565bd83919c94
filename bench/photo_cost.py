"""Is the synthetic workload fair? Compare its pipeline cost with real photographs.

The study runs on generated JPEGs (kit.worker.workloads.imagegen) because photographs cannot be shipped in
bulk. This script times the study's pipeline (read, decode, INTER_AREA resize to fit 1920x1080,
encode q85; one OpenCV thread; median CPU time of --repeats runs) on real photographs and on
generated images.

Real photographs come in many sizes, so costs are compared per megapixel, three ways:
  * same-size twins: for each photo, a generated image of exactly its size; median of the per-photo
    ratios. Same geometry means the same resize path, so only content and JPEG coding differ. Gate.
  * decode ms/MP, generated --width x --height vs the photos: what content costs to decode. Gate.
  * whole pipeline ms/MP, generated --width x --height vs the photos: printed, not a gate, because it
    mostly measures geometry: 3840x2160 -> 1920x1080 is an exact 2x INTER_AREA, which OpenCV does
    about 10x faster per pixel than the fractional scales of the photos (e.g. 2560 -> 1920), and a
    real 3840x2160 photo would get the same fast path.
Exit status 0 when both gates are within 0.5x-2x, 1 otherwise.

Real photographs: directories or files given (default: the usual wallpaper directories), or
--debian, which downloads Debian packages that ship photographs (lomiri-wallpapers-16.04,
lomiri-wallpapers-20.04, mate-backgrounds; about 75 MB) into a temp dir, unpacks them without
installing, and keeps only the camera photographs named in PHOTOGRAPHS (the rest are renders).

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
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = ("/usr/share/backgrounds", "/usr/share/wallpapers", "/usr/share/images/desktop-base")
DEBIAN_PACKAGES = ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "mate-backgrounds")
# Camera photographs in DEBIAN_PACKAGES at least 1920 px wide, picked by eye; the other JPEGs there
# are renders or vector art, whose cost says nothing about photos.
PHOTOGRAPHS = frozenset(
    {
        "Bridge_by_Sander_Klootwijk.jpg",
        "Dragonfly_by_Bolly.jpg",
        "Picture_0B_by_freespace.jpg",
        "Wine_by_Jakkub_Mede.jpg",
        "aitzgorri_by_Aitzol_Berasategi.jpg",
        "analogpattern_by_Peter_Nerlich.jpg",
        "free_by_Peter_Nerlich.jpg",
        "friends_by_Aitzol_Berasategi.jpg",
        "greentock_by_Peter_Nerlich.jpg",
        "life_by_Aitzol_Berasategi.jpg",
        "picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "seeding_by_Clements_Engelhardt.jpg",
        "sunset_by_Aitzol_Berasategi.jpg",
        "Kleiber_by_Lukas_Baubkus.jpg",
        "Aqua.jpg",
        "Blinds.jpg",
        "Garden.jpg",
        "LadyBird.jpg",
        "RainDrops.jpg",
        "Storm.jpg",
        "TwoWings.jpg",
        "Wood.jpg",
        "YellowFlower.jpg",
    }
)
DECODE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
Row = dict[str, Any]


def load_imagegen() -> ModuleType:
    """Import kit.worker.workloads.imagegen, or the file alone if the kit package is not importable."""
    sys.path.insert(0, str(REPO))
    try:
        from kit.worker.workloads import imagegen

        return imagegen
    except ImportError:
        path = REPO / "kit" / "workloads" / "imagegen.py"
        spec = importlib.util.spec_from_file_location("kit_imagegen", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def pipeline(path: Path) -> None:
    """The study's per-item work, as in kit.worker.workloads.images.transform."""
    data = path.read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), DECODE_FLAGS)
    assert image is not None, path
    height, width = image.shape[:2]
    scale = min(1920 / width, 1080 / height, 1.0)
    size = (max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5)))
    if size != (width, height):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, _ = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok


def jpeg_kind(data: bytes) -> str:
    """'B' baseline or 'P' progressive, plus luma sampling ('2x2' = 4:2:0): both drive decode cost."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            sampling = data[i + 11]
            return f"{'P' if marker == 0xC2 else 'B'} {sampling >> 4}x{sampling & 15}"
        i += 2 + length
    return "?"


def measure(paths: list[Path], repeats: int) -> list[Row]:
    """Median CPU ms of the pipeline and of the decode alone, per file, after a warm-up run.

    CPU time of this process (one OpenCV thread), not wall time: other jobs on the machine then
    barely move the numbers. Files are measured round-robin, so drift hits all of them alike."""
    datas = [p.read_bytes() for p in paths]
    times: list[list[float]] = [[] for _ in paths]
    decode: list[list[float]] = [[] for _ in paths]
    for round_ in range(repeats + 1):
        for i, (path, data) in enumerate(zip(paths, datas, strict=True)):
            start = time.process_time()
            pipeline(path)
            mid = time.process_time()
            cv2.imdecode(np.frombuffer(data, np.uint8), DECODE_FLAGS)
            if round_:  # round 0 is the warm-up
                times[i].append(mid - start)
                decode[i].append(time.process_time() - mid)
    rows = []
    for path, data, t, d in zip(paths, datas, times, decode, strict=True):
        width, height = shape_of(path)
        mp = width * height / 1e6
        ms = statistics.median(t) * 1000
        rows.append(
            {
                "file": path.name,
                "wxh": f"{width}x{height}",
                "kind": jpeg_kind(data),
                "mp": mp,
                "mb": len(data) / 1e6,
                "ms": ms,
                "ms_mp": ms / mp,
                "dec_mp": statistics.median(d) * 1000 / mp,
                "b_px": len(data) / (mp * 1e6),
            }
        )
    return rows


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


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(
        f"{'file':38s} {'WxH':>10s} {'jpeg':>5s} {'MB':>5s} {'B/px':>5s} {'ms':>6s} {'ms/MP':>6s} "
        f"{'dec/MP':>6s}" + ("  same-size synthetic: ms/MP ratio" if "syn_ms_mp" in rows[0] else "")
    )
    for r in rows:
        line = (
            f"{r['file'][:38]:38s} {r['wxh']:>10s} {r['kind']:>5s} {r['mb']:5.2f} {r['b_px']:5.3f} "
            f"{r['ms']:6.1f} {r['ms_mp']:6.2f} {r['dec_mp']:6.2f}"
        )
        if "syn_ms_mp" in r:
            line += f"  {r['syn_ms_mp']:18.2f} {r['syn_ms_mp'] / r['ms_mp']:5.2f}"
        print(line)


def shape_of(path: Path) -> tuple[int, int]:
    """(width, height), or (0, 0) for a file OpenCV cannot decode."""
    image = cv2.imread(str(path), DECODE_FLAGS)
    return (0, 0) if image is None else (int(image.shape[1]), int(image.shape[0]))


def summary(label: str, rows: list[Row]) -> tuple[float, float]:
    """Print a group's medians; return (pipeline ms/MP, decode ms/MP)."""
    ms_mp = float(statistics.median(r["ms_mp"] for r in rows))
    dec_mp = float(statistics.median(r["dec_mp"] for r in rows))
    b_px = statistics.median(r["b_px"] for r in rows)
    print(
        f"{label:26s} n={len(rows):2d}  median ms/MP {ms_mp:6.2f}  decode ms/MP {dec_mp:5.2f}  "
        f"B/px {b_px:.3f}"
    )
    return ms_mp, dec_mp


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("photos", nargs="*", help=f"photo dirs/files (default: {', '.join(DEFAULT_DIRS)})")
    parser.add_argument("--debian", action="store_true", help="fetch the photo packages into a temp dir")
    parser.add_argument("--curated", action="store_true", help="keep only files named in PHOTOGRAPHS")
    parser.add_argument("--min-width", type=int, default=1920)
    parser.add_argument("--count", type=int, default=8, help="synthetic images at --width x --height")
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
        shapes = {p: shape_of(p) for p in photos}
        photos = [p for p in photos if shapes[p][0] >= args.min_width]
        if not photos:
            print("no photographs found: pass directories or files, or --debian", file=sys.stderr)
            return 2

        # Generation may use all cores; the measured pipeline then gets one.
        start = time.perf_counter()
        pool = imagegen.generate_pool(
            Path(tmp) / "synthetic", args.count, args.width, args.height, args.quality, args.seed
        )
        gen_ms = (time.perf_counter() - start) * 1000 / args.count
        # Same-size twins: same geometry, so the same resize path; only content and coding differ.
        twins: list[Path] = []
        for i, photo in enumerate(photos):
            twin = Path(tmp) / f"twin-{i:03d}.jpg"
            twin.write_bytes(imagegen.generate_image(i, *shapes[photo], args.quality, args.seed))
            twins.append(twin)

        cv2.setNumThreads(1)
        rows = measure(photos + twins + pool, args.repeats)
        real, twin_rows, synthetic = (
            rows[: len(photos)],
            rows[len(photos) : 2 * len(photos)],
            rows[2 * len(photos) :],
        )
        for r, twin_row in zip(real, twin_rows, strict=True):
            r["syn_ms_mp"] = twin_row["ms_mp"]

    print_table("Real photographs (ms: median CPU ms; jpeg: Baseline/Progressive, luma sampling)", real)
    print_table(
        f"Synthetic (imagegen v{imagegen.GENERATOR_VERSION}, q{args.quality}, seed {args.seed})", synthetic
    )
    print()
    real_ms, real_dec = summary("real, all", real)
    for label, group in (
        ("real, baseline JPEG only", [r for r in real if r["kind"].startswith("B")]),
        ("real, >= 6 MP", [r for r in real if r["mp"] >= 6.0]),
    ):
        if group:
            summary(label, group)
    syn_ms, syn_dec = summary(f"synthetic {args.width}x{args.height}", synthetic)
    print(
        f"synthetic mean size {statistics.mean(r['mb'] for r in synthetic):.2f} MB, "
        f"generation {gen_ms:.0f} ms/image (all cores)"
    )
    twin_ratio = statistics.median(r["syn_ms_mp"] / r["ms_mp"] for r in real)
    dec_ratio = syn_dec / real_dec
    print(f"\nsynthetic/real, same-size twins (median of per-photo ratios): {twin_ratio:.2f}x  [gate]")
    print(f"synthetic/real, decode ms/MP:                                {dec_ratio:.2f}x  [gate]")
    print(
        f"synthetic/real, whole pipeline ms/MP:                        {syn_ms / real_ms:.2f}x  "
        "[info: resize geometry differs]"
    )
    ok = 0.5 <= twin_ratio <= 2.0 and 0.5 <= dec_ratio <= 2.0
    print("within 0.5x-2x: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
