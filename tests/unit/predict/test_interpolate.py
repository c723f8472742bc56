"""Shape interpolation: a product's or a layer's efficiency from the measured shapes around it."""

import math

import pytest

from devicefit.predict.interpolate import interpolate_layers, interpolate_shape


def test_measured_shape_returns_its_own_fraction():
    points = ((64.0, 64.0, 64.0, 0.2), (256.0, 256.0, 256.0, 0.6))
    assert interpolate_shape(points, (256, 256, 256)) == 0.6
    # A batched product's shape (B, M, K, N) is matched on its last three sizes.
    assert interpolate_shape(points, (8, 64, 64, 64)) == 0.2


def shepard(points, shape):
    """Inverse squared log2 distance weighting of the four nearest points, worked out directly."""

    def squared(point):
        return sum((math.log2(a) - math.log2(b)) ** 2 for a, b in zip(shape, point[:-1], strict=True))

    nearest = sorted((squared(p), p[-1]) for p in points)[:4]
    return sum(f / d for d, f in nearest) / sum(1 / d for d, _ in nearest)


def test_shape_inside_a_measured_grid_cell_is_interpolated_trilinearly_in_log2_sizes():
    # A 2 x 2 x 2 grid: M 8 and 64, K 512 and 2048, N 1024 and 4096; efficiency 0.1 at M 8 and 0.5 at
    # M 64, plus 0.1 where K is 2048 and 0.2 where N is 4096.
    points = tuple(
        (m, k, n, (0.1 if m == 8 else 0.5) + (0.1 if k == 2048 else 0.0) + (0.2 if n == 4096 else 0.0))
        for m in (8.0, 64.0)
        for k in (512.0, 2048.0)
        for n in (1024.0, 4096.0)
    )
    # (16, 1024, 2048): a third of the way from M 8 to 64 (log2 3 to 6), half-way in K and in N:
    # 0.1 + 0.4 / 3 + 0.1 / 2 + 0.2 / 2.
    assert interpolate_shape(points, (16, 1024, 2048)) == pytest.approx(0.1 + 0.4 / 3 + 0.05 + 0.1)
    # On a grid face, the face's four corners alone: M 64 exactly.
    assert interpolate_shape(points, (64, 1024, 1024)) == pytest.approx(0.5 + 0.05)
    # Shepard's weights would leave M = 64 out altogether: (16, 1024, 2048) is 1 + 1 + 1 = 3 away
    # (squared, log2) from each of the four M = 8 corners and 4 + 1 + 1 = 6 from the M = 64 ones, so
    # its four nearest are the M = 8 corners, whose mean is 0.1 + 0.05 + 0.1.
    assert shepard(points, (16, 1024, 2048)) == pytest.approx(0.25)


def test_odd_extra_shapes_do_not_break_the_grid_and_an_unmeasured_corner_falls_back_to_the_nearest():
    sizes = (512.0, 1024.0)
    grid = tuple((m, k, n, 0.1 if m == 64 else 0.5) for m in (64.0, 512.0) for k in sizes for n in sizes)
    # A vocabulary-wide head at M 128, between the grid's 64 and 512, measured once against four
    # times for each grid size: not a grid size, so (256, 512, 512) is still in the cell from M 64
    # to 512 (two thirds of the way in log2), not in one from 128 whose corners nobody measured.
    head = (128.0, 512.0, 32000.0, 0.9)
    assert interpolate_shape((*grid, head), (256, 512, 512)) == pytest.approx(0.1 + 0.4 * 2 / 3)
    # Beyond the grid (M 1024), the nearest products.
    beyond = (1024, 512, 512)
    assert interpolate_shape((*grid, head), beyond) == pytest.approx(shepard((*grid, head), beyond))
    # With a corner of its cell missing, a shape is interpolated from its nearest products.
    holed = grid[1:]  # no (64, 512, 512)
    assert interpolate_shape(holed, (256, 512, 512)) == pytest.approx(shepard(holed, (256, 512, 512)))
    assert shepard(holed, (256, 512, 512)) != pytest.approx(0.1 + 0.4 * 2 / 3)


def test_a_measured_product_inside_a_cell_is_not_interpolated_over():
    # The grid's M sizes are 1, 8 and 64 (four products each); M 4 was measured once (its other
    # products too small to time past the host's cost), under half as often: not a grid size.
    sizes = (512.0, 1024.0)
    efficiency = {1.0: 0.2, 8.0: 0.4, 64.0: 0.6}
    grid = tuple((m, k, n, efficiency[m]) for m in efficiency for k in sizes for n in sizes)
    points = (*grid, (4.0, 1024.0, 1024.0, 0.05))
    # A measured product is its own measurement, not the cell's interpolation (0.2 + 0.2 * 2 / 3).
    assert interpolate_shape(points, (4, 1024, 1024)) == 0.05
    # A shape whose cell holds a product measured between its corners: its nearest products, the
    # slow M = 4 ones among them, not the corners alone.
    between = (6, 1024, 1024)
    assert interpolate_shape(points, between) == pytest.approx(shepard(points, between))
    # Without it, the cell from M 1 to 8: log2(6) / log2(8) of the way.
    assert interpolate_shape(grid, between) == pytest.approx(0.2 + 0.2 * math.log2(6) / 3)
    # A cell the few products are outside of still interpolates: M 16 to 64 is clear of them.
    assert interpolate_shape(points, (16, 1024, 1024)) == pytest.approx(0.4 + 0.2 / 3)


def test_a_convolution_takes_its_own_layer_s_rate_along_m_and_interpolates_across_layers():
    # Two layers, each run at three batches: (K 75, N 16) at M 1024, 8192 and 32768, and (K 400,
    # N 16) at M 256 and 2048; and a 1x1 layer (K 96, N 24) measured only at M 25088.
    points = (
        (1024.0, 75.0, 16.0, 0.2),
        (8192.0, 75.0, 16.0, 0.4),
        (32768.0, 75.0, 16.0, 0.5),
        (256.0, 400.0, 16.0, 0.3),
        (2048.0, 400.0, 16.0, 0.6),
        (25088.0, 96.0, 24.0, 0.05),
    )
    # Along M, in log2: M 4096 is two thirds of the way from 1024 to 8192.
    assert interpolate_layers(points, (4096, 75, 16)) == pytest.approx(0.2 + 0.2 * 2 / 3)
    # Beyond its measured M the layer keeps its last rate: not the 1x1 layer measured at that M,
    # which Shepard's method over (M, K, N) leans on.
    assert interpolate_layers(points, (100352, 75, 16)) == pytest.approx(0.5)
    assert interpolate_shape(points, (25088, 75, 16)) < 0.4
    assert interpolate_layers(points, (64, 75, 16)) == pytest.approx(0.2)
    # Across layers, in (K, N), each at the shape's M: at M 8192 the (75, 16) layer runs at 0.4,
    # the (400, 16) one keeps its M 2048 rate, 0.6, and the 1x1 layer its 0.05. K 150 has no
    # measured cell around it (no layer at K 96 and N 16): Shepard's method over the three.
    layers = ((75.0, 16.0, 0.4), (400.0, 16.0, 0.6), (96.0, 24.0, 0.05))
    assert interpolate_layers(points, (8192, 150, 16)) == pytest.approx(shepard(layers, (150, 16)))
    # With two layers alone, bracketing K 150 at the same N: linear in log2 K between them.
    two = points[:5]
    share = math.log2(150 / 75) / math.log2(400 / 75)
    assert interpolate_layers(two, (8192, 150, 16)) == pytest.approx(0.4 + share * 0.2)


def test_shape_between_measured_ones_is_inverse_squared_log2_distance_weighted():
    points = ((64.0, 64.0, 64.0, 0.2), (256.0, 256.0, 256.0, 0.6), (1024.0, 1024.0, 1024.0, 0.9))
    # 128^3 is at log2 (7, 7, 7): squared distances 3 to 64^3 and to 256^3, 3 * 3^2 = 27 to 1024^3.
    # (0.2/3 + 0.6/3 + 0.9/27) / (1/3 + 1/3 + 1/27) = (5.4 + 1.8 + 0.9) / 19 = 8.1 / 19.
    assert interpolate_shape(points, (128, 128, 128)) == pytest.approx(8.1 / 19)
    # Only the four nearest count: a fifth, farther point changes nothing.
    farther = (*points, (16.0, 16.0, 16.0, 0.01), (8192.0, 8192.0, 8192.0, 0.99))
    four = (*points, (16.0, 16.0, 16.0, 0.01))
    target = (128, 128, 128)
    assert interpolate_shape(farther, target) == pytest.approx(interpolate_shape(four, target))
    # ... and that fourth point is 3 * 3^2 = 27 away too: (8.1 + 0.01) / 20.
    assert interpolate_shape(four, (128, 128, 128)) == pytest.approx(8.11 / 20)
