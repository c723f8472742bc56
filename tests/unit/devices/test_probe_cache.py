"""Hardware facts cached per boot: probed once, probed afresh after a reboot or a py-cpuinfo upgrade."""

import json
from pathlib import Path

import pytest

from devicefit.devices import probe_cache
from devicefit.devices.cpu import probe_cpu
from devicefit.devices.probe_cache import cached_per_boot, default_probe_dir

DATA = Path(__file__).parents[2] / "data"


class CountingProbe:
    """A probe that answers with the number of times it was called."""

    def __init__(self):
        self.num_calls = 0

    def __call__(self):
        self.num_calls += 1
        return {"answer": self.num_calls}


@pytest.fixture
def boot(tmp_path, monkeypatch):
    """A boot id file the test can rewrite, as a reboot would."""
    path = tmp_path / "boot_id"
    path.write_text("11111111-aaaa\n")
    monkeypatch.setattr(probe_cache, "BOOT_ID_PATH", path)
    return path


def test_a_second_call_in_the_same_boot_reads_the_cache(boot, tmp_path):
    probe = CountingProbe()
    assert cached_per_boot("facts", "1.0", probe, tmp_path) == {"answer": 1}
    assert cached_per_boot("facts", "1.0", probe, tmp_path) == {"answer": 1}
    assert probe.num_calls == 1


def test_a_new_boot_or_another_prober_version_probes_afresh(boot, tmp_path):
    probe = CountingProbe()
    cached_per_boot("facts", "1.0", probe, tmp_path)
    assert cached_per_boot("facts", "2.0", probe, tmp_path) == {"answer": 2}
    boot.write_text("22222222-bbbb\n")
    assert cached_per_boot("facts", "2.0", probe, tmp_path) == {"answer": 3}
    assert cached_per_boot("facts", "2.0", probe, tmp_path) == {"answer": 3}


def test_without_a_boot_id_nothing_is_cached(boot, tmp_path):
    boot.unlink()
    probe = CountingProbe()
    cached_per_boot("facts", "1.0", probe, tmp_path / "probes")
    cached_per_boot("facts", "1.0", probe, tmp_path / "probes")
    assert probe.num_calls == 2 and not (tmp_path / "probes").exists()


def test_a_damaged_entry_is_probed_and_rewritten(boot, tmp_path):
    (tmp_path / "facts.json").write_text("{not json")
    probe = CountingProbe()
    assert cached_per_boot("facts", "1.0", probe, tmp_path) == {"answer": 1}
    assert json.loads((tmp_path / "facts.json").read_text())["answer"] == {"answer": 1}


def test_an_unwritable_cache_still_answers(boot, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cached_per_boot("facts", "1.0", CountingProbe(), blocker / "probes") == {"answer": 1}


def test_the_cpu_probe_runs_py_cpuinfo_once_per_boot(boot, monkeypatch, _isolated_cache):
    import cpuinfo

    calls = []
    recorded = json.loads((DATA / "cpuinfo_amd_epyc_zen3_vm.json").read_text())
    monkeypatch.setattr(cpuinfo, "get_cpu_info", lambda: calls.append(1) or recorded)
    first, second = probe_cpu(2), probe_cpu(2)
    assert first == second and len(calls) == 1
    assert (default_probe_dir() / "cpuinfo.json").is_file()
    assert default_probe_dir().is_relative_to(_isolated_cache.parent)
