"""Tables that fit the terminal: figures are never cut, text wraps, low-priority columns go first.

Rich shrinks a table that is wider than the console by cutting every column, numbers included
("192…"). ``FittedTable`` decides at render time, when the width is known: each figure column needs
its widest cell, each text column its longest word (a dotted name, its longest component); while
those needs exceed the width it leaves out the column with the highest ``drop`` rank and says so
under the table. Then it gives each column an explicit width, so Rich never truncates one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rich import box as rich_box
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

#: Measuring at this width shows every cell's natural width: no table here is anywhere near it.
_UNBOUNDED = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One column of a ``FittedTable``.

    Attributes:
        header: The heading.
        justify: Cell alignment; figures are right-aligned.
        style: Rich style of the cells.
        wrap: Whether the cells are text that may wrap between words (and fold a word longer than
            the column); figure columns keep each cell on its lines, unbroken.
        min_width: The narrowest a text column is made before columns are left out, folding longer
            words; 0: as wide as its longest word. A figure column is as wide as its widest cell.
        drop: 0: always shown; otherwise the column is left out on a narrow console, the highest
            rank first.
    """

    header: str
    justify: JustifyMethod = "left"
    style: str = ""
    wrap: bool = False
    min_width: int = 0
    drop: int = 0


class FoldedName:
    """A name (``stages.3.blocks.2.attn.qkv``) that wraps after its separators, never losing a part.

    A name narrower than the column is one line; a wider one continues on the next lines at a
    separator, so ``blocks.12`` is never split and the distinctive tail stays readable. Catalog ids
    fold at their hyphens the same way.
    """

    def __init__(self, name: str, style: str = "", separator: str = ".") -> None:
        """Args: name: the name; style: its Rich style; separator: where a line may end."""
        self.name = name
        self.style = style
        self.separator = separator

    def _parts(self) -> list[str]:
        pieces = self.name.split(self.separator)
        return [piece + self.separator for piece in pieces[:-1]] + [pieces[-1]]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """The longest part at least, the whole name at most."""
        return Measurement(max(len(p) for p in self._parts()), len(self.name))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The name packed part by part into lines of the given width."""
        width = max(options.max_width, 1)
        lines = [""]
        for part in self._parts():
            if lines[-1] and len(lines[-1]) + len(part) > width:
                lines.append("")
            lines[-1] += part
        # A single part wider than the column folds by characters: cut, never hidden.
        text = Text("\n".join(lines), style=self.style, overflow="fold", no_wrap=False)
        yield from console.render(text, options.update(width=width))


class FittedTable:
    """A table that leaves out its lowest-priority columns, never a figure's digits, when narrow.

    Rows are cells in column order (str, ``Text`` or any renderable). ``section_ends`` are the
    indices of rows after which a separator is drawn.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[RenderableType]],
        *,
        title: str | None = None,
        show_header: bool = True,
        pad_edge: bool = True,
        box: rich_box.Box | None = rich_box.SIMPLE_HEAD,
        section_ends: Collection[int] = (),
    ) -> None:
        """Args: as the class docstring says; the rest as in ``rich.table.Table``."""
        self.columns = tuple(columns)
        self.rows = [tuple(row) for row in rows]
        self.title = title
        self.show_header = show_header
        self.pad_edge = pad_edge
        self.box = box
        self.section_ends = frozenset(section_ends)

    def _table(self, shown: Sequence[int], widths: Sequence[int | None]) -> Table:
        table = Table(
            box=self.box,
            title=self.title,
            title_justify="left",
            show_header=self.show_header,
            pad_edge=self.pad_edge,
        )
        for index, width in zip(shown, widths, strict=True):
            column = self.columns[index]
            table.add_column(
                column.header,
                justify=column.justify,
                style=column.style,
                no_wrap=not column.wrap,
                overflow="fold",
                width=width,
            )
        for position, row in enumerate(self.rows):
            table.add_row(*(row[index] for index in shown), end_section=position in self.section_ends)
        return table

    def _range(self, console: Console, options: ConsoleOptions, index: int) -> tuple[int, int]:
        """(needed, natural) width of a column's content: figures need all of it, text a word or more."""
        column = self.columns[index]
        cells: list[RenderableType] = [row[index] for row in self.rows]
        if self.show_header:
            cells.append(column.header)
        wide = options.update_width(_UNBOUNDED)
        sizes = [Measurement.get(console, wide, cell) for cell in cells]
        natural = max((size.maximum for size in sizes), default=1)
        if not column.wrap:
            return natural, natural
        if column.min_width:
            return min(column.min_width, natural), natural
        return max((size.minimum for size in sizes), default=1), natural

    def _overhead(self, console: Console, options: ConsoleOptions, shown: Sequence[int]) -> int:
        """Borders and padding: a table of one-character columns measured by Rich."""
        probe = self._table(shown, [1] * len(shown))
        probe.title = None
        return Measurement.get(console, options.update_width(_UNBOUNDED), probe).maximum - len(shown)

    def _layout(self, console: Console, options: ConsoleOptions) -> tuple[list[int], list[int]]:
        """The columns shown and their widths."""
        ranges = {i: self._range(console, options, i) for i in range(len(self.columns))}
        shown = list(range(len(self.columns)))
        droppable = sorted(
            (i for i, c in enumerate(self.columns) if c.drop), key=lambda i: (-self.columns[i].drop, -i)
        )
        available = options.max_width - self._overhead(console, options, shown)
        while droppable and sum(ranges[i][0] for i in shown) > available:
            shown.remove(droppable.pop(0))
            available = options.max_width - self._overhead(console, options, shown)
        widths = {i: ranges[i][1] for i in shown}
        # Narrow the text column furthest above its need one character at a time, down to its need...
        excess = sum(widths.values()) - available
        while excess > 0:
            text = [i for i in shown if self.columns[i].wrap and widths[i] > ranges[i][0]]
            if not text:
                break
            widest = max(text, key=lambda i: widths[i] - ranges[i][0])
            widths[widest] -= 1
            excess -= 1
        # ...and then, if figures alone are too wide, fold words rather than cut a figure.
        while excess > 0:
            text = [i for i in shown if self.columns[i].wrap and widths[i] > 1]
            if not text:
                break
            widest = max(text, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
        return shown, [widths[i] for i in shown]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The table at the console's width, then which columns were left out, if any."""
        shown, widths = self._layout(console, options)
        yield self._table(shown, widths)
        left_out = [c.header for i, c in enumerate(self.columns) if i not in shown]
        if left_out:
            yield Text(
                f"not shown at {options.max_width} columns: {', '.join(left_out)} "
                "(see --json or a wider terminal)",
                style="dim",
            )

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """As wide as the table laid out at the available width."""
        shown, widths = self._layout(console, options)
        width = sum(widths) + self._overhead(console, options, shown)
        return Measurement(min(width, options.max_width), min(width, options.max_width))
