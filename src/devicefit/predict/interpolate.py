"""Efficiency of a matrix product or a layer from the measured ones nearest its shape, in log2 sizes."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections import Counter

from devicefit.predict.curves import efficiency_at
from devicefit.records import EfficiencyCurve

_Points = tuple[tuple[float, ...], ...]


def interpolate_shape(points: _Points, shape: tuple[int, ...]) -> float:
    """Efficiency of an (M, K, N) product from the measured products around its shape, in log2 sizes.

    A measured shape is its own measurement. Inside a cell of the calibration's grid (the eight
    products at the grid sizes just below and above each of M, K and N all measured, and no other
    measured product within the cell), trilinear interpolation: each size's share of the way from
    the size below it to the size above, in log2. Elsewhere (products beyond the grid, or without a
    measured cell around them, as LSTM layers' scattered shapes are), the four nearest products by
    distance between log2 sizes (64 is as far from 128 as 1024 from 2048), each weighted by one over
    its squared distance (Shepard's method). Shepard's weights favour the nearest points over those
    bracketing the shape: on a Zen 4, (16, 1024, 1024) took the efficiency of its (8, *, *)
    neighbours, 36% slower than it runs, where interpolation between M = 8 and 64 is within 8%.

    Points may have any number of sizes before their efficiency; the shape's last as many are used.
    """
    dims = len(points[0]) - 1 if points else 3
    shape = shape[-dims:]
    inside = _grid_interpolation(points, shape)
    if inside is not None:
        return inside
    target = [math.log2(max(size, 1)) for size in shape]
    ranked = []
    for *sizes, fraction in points:
        distance = sum((a - math.log2(max(b, 1))) ** 2 for a, b in zip(target, sizes, strict=True))
        if distance == 0:
            return fraction
        ranked.append((distance, fraction))
    nearest = sorted(ranked)[:4]
    weights = [1 / distance for distance, _ in nearest]
    return sum(w * f for w, (_, f) in zip(weights, nearest, strict=True)) / sum(weights)


def interpolate_layers(points: _Points, shape: tuple[int, ...]) -> float:
    """Efficiency of a convolution's (M, K, N) from the measured layers nearest it: along M, then across.

    Each measured layer (its K and N: inputs per output and output channels) ran at a few batch
    sizes, so at a few M (output positions). Its efficiency at the shape's M is interpolated in
    log2 M between them, and held at the nearest beyond them: a layer run over more positions than
    measured keeps the measured rate, where Shepard's method over (M, K, N) would take it from
    other layers that happened to be measured at that M. On a Zen 4, the first layer of the CIFAR
    network (75 inputs, 6 channels) at batch 32 took the efficiency of MobileNetV2's 1x1 layers
    measured at a similar M, and was predicted 45% slow; from its own layer, measured at batches
    1, 8 and 32, it is 8% fast, and 2% slow at batch 128. Across layers, in (K, N), as
    ``interpolate_shape``: between grid neighbours where they bracket the shape, else Shepard's
    method.
    """
    m, k, n = shape[-3:]
    by_layer: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for pm, pk, pn, fraction in points:
        by_layer.setdefault((pk, pn), []).append((pm, fraction))
    # A layer's efficiency along M is an efficiency curve: linear in log M, flat beyond its ends.
    layers = tuple(
        (pk, pn, efficiency_at(EfficiencyCurve(points=tuple(sorted(curve))), m))
        for (pk, pn), curve in sorted(by_layer.items())
    )
    return interpolate_shape(layers, (k, n))


@functools.lru_cache(maxsize=256)
def _grid(points: _Points) -> tuple[dict[tuple[float, ...], float], tuple[tuple[float, ...], ...]]:
    """Measured points by their sizes, and each dimension's grid sizes.

    A grid size is one measured at least half as often as the most measured size of its dimension:
    the odd extra shapes (a vocabulary-wide head) are not, and would otherwise bracket products
    between grid sizes with corners nobody measured.
    """
    table = {tuple(sizes): fraction for *sizes, fraction in points}
    axes = []
    for dimension in range(len(points[0]) - 1):
        counts = Counter(point[dimension] for point in points)
        most = max(counts.values(), default=0)
        axes.append(tuple(sorted(size for size, count in counts.items() if 2 * count >= most)))
    return table, tuple(axes)


def _grid_interpolation(points: _Points, shape: tuple[int, ...]) -> float | None:
    """Multilinear interpolation in log2 sizes inside a fully measured grid cell (``None``: not inside one).

    A cell with any other measured point in it (a grid size whose points were too few to count,
    say) is not used: interpolating across it would ignore a measurement nearer the shape.
    """
    if not points or len(shape) != len(points[0]) - 1:
        return None
    table, axes = _grid(points)
    measured_here = table.get(tuple(float(size) for size in shape))
    if measured_here is not None:
        return measured_here
    brackets: list[tuple[tuple[float, float], ...]] = []
    for size, axis in zip(shape, axes, strict=True):
        at = bisect.bisect_left(axis, size)
        if at < len(axis) and axis[at] == size:
            brackets.append(((axis[at], 1.0),))
        elif 0 < at < len(axis):
            lower, upper = axis[at - 1], axis[at]
            share = math.log2(size / lower) / math.log2(upper / lower)
            brackets.append(((lower, 1.0 - share), (upper, share)))
        else:
            return None
    corners = set(itertools.product(*({size for size, _ in sizes} for sizes in brackets)))
    bounds = [(sizes[0][0], sizes[-1][0]) for sizes in brackets]
    for measured in table:
        inside = all(low <= size <= high for size, (low, high) in zip(measured, bounds, strict=True))
        if inside and measured not in corners:
            return None
    total = 0.0
    for corner in itertools.product(*brackets):
        fraction = table.get(tuple(size for size, _ in corner))
        if fraction is None:
            return None
        total += math.prod(weight for _, weight in corner) * fraction
    return total
