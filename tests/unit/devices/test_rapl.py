"""RAPL through powercap, replayed from trees written as files: zones, the wrap, and each way to have none."""

import os

import pytest

from devicefit.devices.rapl import find_zones, rapl_meter


def zone(path, name, energy_uj, max_energy_range_uj=262143328850):
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
    (path / "enabled").write_text("1\n")
    return path


def server_tree(root):
    """Two sockets as a Xeon server lists them: packages with core and dram subzones, each subzone also
    linked beside its package, plus psys and an MMIO view of package 0 (neither may be counted)."""
    root.mkdir()
    (root / "intel-rapl").mkdir()  # the control type, not a zone
    for socket in (0, 1):
        package = zone(root / f"intel-rapl:{socket}", f"package-{socket}", 1_000_000 * (socket + 1))
        zone(package / f"intel-rapl:{socket}:0", "core", 500_000)
        dram = zone(package / f"intel-rapl:{socket}:1", "dram", 200_000)
        os.symlink(dram, root / f"intel-rapl:{socket}:1")
    zone(root / "intel-rapl:2", "psys", 9_000_000)
    zone(root / "intel-rapl-mmio:0", "package-0", 1_000_000)
    return root


def clock(*values):
    return iter(values).__next__


def test_package_and_dram_zones_are_found_once_each(tmp_path):
    zones = find_zones(server_tree(tmp_path / "powercap"))
    assert [z.name for z in zones] == ["package-0", "package-0/dram", "package-1", "package-1/dram"]


def test_energy_over_a_window_sums_packages_and_dram(tmp_path):
    root = server_tree(tmp_path / "powercap")
    stop = rapl_meter(root, clock=clock(0.0, 0.5)).start()
    # Half a second later: package 0 used 30 J, its DRAM 2 J, package 1 20 J, its DRAM 3 J.
    for path, uj in (
        ("intel-rapl:0", 31_000_000),
        ("intel-rapl:0/intel-rapl:0:1", 2_200_000),
        ("intel-rapl:1", 22_000_000),
        ("intel-rapl:1/intel-rapl:1:1", 3_200_000),
        ("intel-rapl:2", 99_000_000),  # psys moved too; it must not count
    ):
        (root / path / "energy_uj").write_text(f"{uj}\n")
    reading = stop()
    assert reading.method == "counter"
    assert reading.energy_j == pytest.approx(55.0)
    assert reading.power_w == pytest.approx(110.0)
    assert {d.name: d.energy_j for d in reading.domains} == pytest.approx(
        {"package-0": 30.0, "package-0/dram": 2.0, "package-1": 20.0, "package-1/dram": 3.0}
    )
    assert reading.resolution_j == 1e-6 and "whole CPU package" in reading.note
    assert reading.meter == "RAPL powercap (package-0, package-0/dram, package-1, package-1/dram)"


def test_a_counter_that_wraps_is_unwrapped_by_its_range(tmp_path):
    root = tmp_path / "powercap"
    # A desktop part: a 65.5 kJ range (2^32 units of 15.26 µJ), read 1 J before the wrap.
    package = zone(root / "intel-rapl:0", "package-0", 65_531_610_987, max_energy_range_uj=65_532_610_987)
    stop = rapl_meter(root, clock=clock(0.0, 1.0)).start()
    (package / "energy_uj").write_text("4000000\n")
    reading = stop()
    # 1 J up to the wrap, then 4 J after it.
    assert reading.method == "counter" and reading.energy_j == pytest.approx(5.0)


def test_absent_powercap_says_no_meter_and_why(tmp_path):
    reading = rapl_meter(tmp_path / "missing").start()()
    assert reading.method == "none" and reading.energy_j is None
    assert reading.note.startswith("no meter:") and "absent" in reading.note and "a VM" in reading.note


def test_powercap_without_rapl_zones_says_so(tmp_path):
    (tmp_path / "powercap" / "dtpm").mkdir(parents=True)
    reading = rapl_meter(tmp_path / "powercap").start()()
    assert reading.method == "none" and "no RAPL package zone" in reading.note


def test_root_only_counter_names_linux_5_10_and_the_fix(tmp_path):
    """Since Linux 5.10 ``energy_uj`` is mode 0400: replayed by a reader that is refused, as a user's is."""
    root = server_tree(tmp_path / "powercap")

    def read(path):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text().strip()

    reading = rapl_meter(root, read=read).start()()
    assert reading.method == "none" and reading.energy_j is None
    assert "needs root since Linux 5.10" in reading.note and "chmod" in reading.note
    assert str(root / "intel-rapl:0" / "energy_uj") in reading.note


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_root_only_counter_on_disk(tmp_path):
    root = server_tree(tmp_path / "powercap")
    (root / "intel-rapl:0" / "energy_uj").chmod(0o000)
    reading = rapl_meter(root).start()()
    assert reading.method == "none" and "needs root since Linux 5.10" in reading.note


def test_a_counter_that_is_not_a_number_says_so(tmp_path):
    root = tmp_path / "powercap"
    package = zone(root / "intel-rapl:0", "package-0", 0)
    (package / "energy_uj").write_text("garbage\n")
    reading = rapl_meter(root).start()()
    assert reading.method == "none" and "holds no number" in reading.note
