"""The training panel's reward chart: per-round points, a moving average, axis labels and range.

Readable in monochrome: the moving average is a line of heavy marks (━, ╱ ╲ where it climbs or
falls between cells), each round a dot (·) over it, a bullet (•) where it sits on the line. The
left axis gives the range shown (min and max of what is drawn), the bottom axis the first and last
round. One line under it says the trend of the average over the window (per round), so a rise can
be read without squinting at noise.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

MA = 5  # rounds in the moving average


def moving_average(ys: list[float], k: int = MA) -> list[float]:
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y
        if i >= k:
            acc -= ys[i - k]
        out.append(acc / min(i + 1, k))
    return out


def trend(ys: list[float]) -> float | None:
    """Least-squares slope per round; None under 3 points."""
    n = len(ys)
    if n < 3:
        return None
    mx, my = (n - 1) / 2, sum(ys) / n
    sxx = sum((i - mx) ** 2 for i in range(n))
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sxx


def render_chart(points: list[tuple[int, float]], width: int, height: int, k: int = MA) -> list[str]:
    """Plain lines: `height` chart rows with a left axis, then the round axis. Pure (tests read it)."""
    label_w = 5
    cols = max(4, width - label_w - 1)
    pts = points[-cols:]
    if not pts:
        return [" " * label_w + "│"] * height + [" " * label_w + "└" + "─" * cols]
    ys = [y for _, y in pts]
    ma = moving_average(ys, k)
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    span = hi - lo
    grid = [[" "] * cols for _ in range(height)]

    def row(y: float) -> int:
        return height - 1 - max(0, min(height - 1, round((y - lo) / span * (height - 1))))

    step = max(1, cols // len(ys))  # few rounds: spread them over the width
    prev = None
    for i, y in enumerate(ma):
        r = row(y)
        for c in range(i * step, min(cols, (i + 1) * step)):
            grid[r][c] = "━" if prev is None or prev == r else ("╱" if r < prev else "╲")
            prev = r
    for i, y in enumerate(ys):  # the rounds over the mean: a point must never hide
        grid[row(y)][i * step + step // 2] = "·" if grid[row(y)][i * step + step // 2] == " " else "•"
    lines = []
    for r in range(height):
        label = f"{hi:.2f}" if r == 0 else (f"{lo:.2f}" if r == height - 1 else "")
        lines.append(f"{label:>{label_w}}│" + "".join(grid[r]))
    first, last = f"r{pts[0][0]}", f"r{pts[-1][0]}"
    used = min(cols, len(ys) * step)
    axis = " " * label_w + "└" + first + "─" * max(1, used - len(first) - len(last)) + last
    lines.append(axis)
    return lines


class RewardChart(Widget):
    """Draws render_chart at the widget's size; `set_points` redraws only when the data changed."""

    DEFAULT_CSS = "RewardChart { height: 5; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.points: list[tuple[int, float]] = []

    def set_points(self, points: list[tuple[int, float]]) -> None:
        if points != self.points:
            self.points = list(points)
            self.refresh()

    def render(self) -> Text:
        h = max(2, self.content_region.height - 1)
        return Text("\n".join(render_chart(self.points, max(12, self.content_region.width), h)), no_wrap=True)
