"""What the terminal shows, in words: a console that wraps between words, the warnings after the
table and doctor's lines. Progress: kit/report/progress.py; the table: kit/report/table.py.

Formatting returns rich objects or lines; the CLI prints them (tests assert on the objects).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Text

from kit.worker.programs import NAMES

STATUS_STYLE = {"ok": "green", "oom_killed": "bold red", "failed": "red", "timeout": "yellow",
                "interrupted": "yellow"}


class Wrapped:
    """Text that wraps between words and never inside a parenthesized group that fits the line:
    `ok CONTENDED (machine busy)` may fold before `(machine busy)`, never after `(machine`. A word
    longer than the line (a path) stays whole on a line of its own, never folded or cut.

    Rich's own wrapping folds such a word and may split a group; `soft_wrap=True` leaves the breaking
    to the terminal, which breaks anywhere (`python-pool-ima⏎p`). `phrases` are kept together when
    they fit (a table cell's parts); continuation lines are indented by `indent` spaces.

        >>> console.print(Wrapped("python-processes x2 (rep 1): ok, 8/8 items"))   # doctest: +SKIP
    """

    def __init__(self, phrases: str | Text | Sequence[str | Text], indent: int = 0) -> None:
        given = [phrases] if isinstance(phrases, (str, Text)) else list(phrases)
        self.phrases = [Text(p) if isinstance(p, str) else p for p in given]
        self.indent = indent

    def paragraphs(self) -> list[list[Text]]:
        """The phrases, one list per line of the text (a newline inside a phrase starts a new one)."""
        out: list[list[Text]] = [[]]
        for phrase in self.phrases:
            for index, line in enumerate(phrase.split("\n", allow_blank=True)):
                if index:
                    out.append([])
                out[-1].append(line)
        return out

    def narrowest(self) -> int:
        """The width below which a unit would have to break: the longest of several phrases given (each is
        a unit), or of one text's words and parenthesized groups."""
        units = (phrase for para in self.paragraphs() for phrase in para)
        if len(self.phrases) == 1:
            units = (atom for unit in units for atom in _atoms(unit))
        return max((unit.cell_len for unit in units), default=0)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((sum(p.cell_len for p in para) + len(para) - 1 for para in self.paragraphs()), default=0)
        return Measurement(self.narrowest(), max(widest, self.narrowest()))

    def lines(self, width: int) -> list[Text]:
        """Greedy packing of the pieces at `width` (a piece wider than that has a line of its own)."""
        out: list[Text] = []
        for para in self.paragraphs():
            # a line's own leading spaces stay, and its continuation lines are indented from them
            lead = len(para[0].plain) - len(para[0].plain.lstrip(" ")) if para else 0
            if lead:
                para = [para[0][lead:], *para[1:]]
            indent = lead + self.indent
            current: Text | None = None
            for piece in (p for phrase in para for p in _fit(phrase, max(width - indent, 1))):
                if current is not None and current.cell_len + 1 + piece.cell_len <= width:
                    current.append(" ")
                    current.append_text(piece)
                    continue
                if current is not None:
                    out.append(current)
                    current = Text(" " * indent) + piece
                else:
                    current = Text(" " * lead) + piece
            out.append(current if current is not None else Text(""))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield from line.render(console)
            yield Segment.line()


def _atoms(phrase: Text) -> list[Text]:
    """`phrase` cut at its spaces outside parentheses: words and whole parenthesized groups."""
    cuts, depth = [], 0
    for index, char in enumerate(phrase.plain):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == " " and depth == 0 and phrase.plain[index + 1:index + 2] not in (" ", ""):
            cuts.append(index)   # at a run of spaces' last one: the others stay ("ok  cgroup" keeps two)
    return _pieces(phrase, cuts)


def _pieces(phrase: Text, cuts: list[int]) -> list[Text]:
    parts = phrase.divide(cuts)
    return [part[1:] if index else part for index, part in enumerate(parts)
            if (part[1:] if index else part).plain]


def _fit(phrase: Text, width: int) -> list[Text]:
    """A phrase that fits stays whole; else its words and parenthesized groups; a group that is
    itself too wide, its words."""
    if phrase.cell_len <= width:
        return [phrase]
    atoms = _atoms(phrase)
    if len(atoms) > 1:
        return [piece for atom in atoms for piece in _fit(atom, width)]
    words = _pieces(phrase, [i for i, char in enumerate(phrase.plain)
                             if char == " " and phrase.plain[i + 1:i + 2] not in (" ", "")])
    return words if len(words) > 1 else [phrase]


class WordConsole(Console):
    """A rich Console whose `print(..., soft_wrap=True)` wraps between words (`Wrapped`, continuation
    lines indented) instead of leaving the line to the terminal: the kit's status lines stay whole
    at 80 columns, and a long path still prints unbroken on a line of its own."""

    def print(self, *objects: Any, sep: str = " ", **kwargs: Any) -> None:
        if kwargs.get("soft_wrap") and objects and all(isinstance(o, (str, Text)) for o in objects):
            texts = [self.render_str(o, markup=kwargs.get("markup"), highlight=kwargs.get("highlight"),
                                     emoji=kwargs.get("emoji")) if isinstance(o, str) else o for o in objects]
            objects = (Wrapped(Text(sep).join(texts), indent=2),)
        super().print(*objects, sep=sep, **kwargs)


def after_table_warnings(warnings: Sequence[str]) -> list[str]:
    """The run's warnings the terminal has not said yet: a strategy skipped as unavailable had its line
    before the run (the results file and the report keep the whole reason)."""
    skipped = tuple(f"{name} skipped: " for name in NAMES)
    return [warning for warning in warnings if not warning.startswith(skipped)]


Check = tuple[str, "str | None"]   # (what was checked, None when fine or what is wrong and how to fix it)


def doctor_lines(needed: Sequence[Check], extras: Sequence[Check], skews: Sequence[Check]) -> tuple[list[str], bool]:
    """`kit doctor`'s report in three parts: what runs need (FAIL: exit 1), the optional extras (each
    adds strategies or a runtime; one not set up is no problem: ' -- ' and how to add it), and what
    skews figures here (warn). Returns the lines (rich markup) and whether a needed check failed."""
    lines = ["[bold]needed for runs[/bold]"]
    failed = False
    for name, problem in needed:
        failed = failed or problem is not None
        lines.append(f"[red]FAIL[/red] {escape(name)}\n     {escape(problem)}" if problem
                     else f"[green] ok [/green] {escape(name)}")
    lines.append("[bold]optional extras[/bold] (runs work without them; each adds strategies or a runtime)")
    lines += [f"[dim] -- [/dim] {escape(name)}: not set up\n     {escape(problem)}" if problem
              else f"[green] ok [/green] {escape(name)}" for name, problem in extras]
    lines.append("[bold]what can skew figures here[/bold] (runs work; records show it)")
    lines += [f"[yellow]warn[/yellow] {escape(name)}\n     {escape(problem)}" if problem
              else f"[green] ok [/green] {escape(name)}" for name, problem in skews]
    return lines, failed


@dataclass(frozen=True, slots=True)
class Consoles:
    """Where a command's words go: `out` for what it reports (a reader that goes away costs the run
    nothing, kit/core/pipe.py), `err` for warnings and errors."""

    out: WordConsole
    err: WordConsole

    def warn(self, text: str, markup: bool = True) -> None:
        """One warning line on stderr, wrapped between words."""
        _warning(self.err, text, markup)

    def finding(self, text: str) -> None:
        """One of the run's warnings on stdout, under the table it qualifies: part of what the command
        reports (stderr keeps what went wrong with the command itself)."""
        _warning(self.out, text, markup=False)

    def line(self, text: str) -> None:
        """One plain line on stdout (no markup: paths and names stay as they are)."""
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)


def _warning(console: WordConsole, text: str, markup: bool) -> None:
    """'warning: ' and the text (its own markup, or taken as it is), wrapped between words."""
    console.print(f"[yellow]warning:[/yellow] {text if markup else escape(text)}", highlight=False, soft_wrap=True)
