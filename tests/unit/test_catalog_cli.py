"""`devicefit catalog list` and `show` via CliRunner: JSON contracts, filters, sources, user files."""

import json

import pytest
from typer.testing import CliRunner

from devicefit import catalog as catalog_module
from devicefit.cli import app

runner = CliRunner()

A100_IDS = {
    "nvidia-a100-40gb-pcie",
    "nvidia-a100-40gb-sxm4",
    "nvidia-a100-80gb-pcie",
    "nvidia-a100-80gb-sxm4",
}

USER_CATALOG = """
[sources.my-quote]
citation = "Our vendor's quote for the lab, 2026-11"
url = "https://example.com/quote"
trust = "vendor"

[[devices]]
id = "nvidia-geforce-rtx-4090"
price = { list_usd = 1799.0, list_date = "2026-11" }
sources = { "price.list_usd" = ["my-quote"], "price.list_date" = ["my-quote"] }

[[devices]]
id = "lab-box-gpu"
name = "Lab Box GPU"
vendor = "nvidia"
kind = "gpu"
architecture = "ada"
memory_bytes = 25769803776
bandwidth_bytes_per_s = 1.0e12
peak_flops_per_s = { fp32 = 80e12, bf16 = 160e12 }

[devices.sources]
memory_bytes = ["my-quote"]
bandwidth_bytes_per_s = ["my-quote"]
"peak_flops_per_s.fp32" = ["my-quote"]
"peak_flops_per_s.bf16" = ["my-quote"]
"""


@pytest.fixture(autouse=True)
def _packaged_catalog_only(monkeypatch):
    monkeypatch.delenv(catalog_module.CATALOG_ENV, raising=False)
    catalog_module.clear_cache()
    yield
    catalog_module.clear_cache()


@pytest.fixture
def user_catalog(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(USER_CATALOG)
    return path


def invoke(*args):
    return runner.invoke(app, ["catalog", *args], env={"COLUMNS": "120"})


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def list_json(*args):
    result = invoke("list", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_json_contract_has_every_field_and_the_cited_sources():
    data = list_json()
    devices = data["devices"]
    assert len(devices) >= 30
    for device in devices:
        assert {"id", "name", "vendor", "kind", "memory_bytes", "bandwidth_bytes_per_s"} <= set(device)
        assert {"architecture", "tdp_w", "price", "notes", "aliases", "matrix_precisions"} <= set(device)
        assert isinstance(device["peak_flops_per_s"], dict)
        assert device["sources"], device["id"]
        for keys in device["sources"].values():
            assert set(keys) <= set(data["sources"])
    for source in data["sources"].values():
        assert set(source) == {"citation", "url", "trust"}
    h100 = next(d for d in devices if d["id"] == "nvidia-h100-sxm5-80gb")
    assert h100["peak_flops_per_s"]["bf16"] == 989.4e12  # dense, from the Hopper whitepaper table


def test_list_is_sorted_by_kind_vendor_then_bf16_peak_fastest_first():
    devices = list_json()["devices"]
    keys = [(d["kind"], d["vendor"], -d["peak_flops_per_s"].get("bf16", 0.0)) for d in devices]
    assert keys == sorted(keys)


def test_list_kind_filter_keeps_only_cpus():
    devices = list_json("--kind", "cpu")["devices"]
    assert devices and {d["kind"] for d in devices} == {"cpu"}
    assert "amd-epyc-9654" in {d["id"] for d in devices}


def test_list_vendor_filter_is_case_insensitive():
    devices = list_json("--vendor", "AMD", "--kind", "gpu")["devices"]
    assert devices and {d["vendor"] for d in devices} == {"amd"}


def test_list_pattern_matches_words_or_shell_style_ids():
    assert {d["id"] for d in list_json("a100")["devices"]} == A100_IDS
    assert {d["id"] for d in list_json("a100 80gb")["devices"]} == {
        "nvidia-a100-80gb-pcie",
        "nvidia-a100-80gb-sxm4",
    }
    assert {d["id"] for d in list_json("nvidia-a100-*-sxm4")["devices"]} == {
        "nvidia-a100-40gb-sxm4",
        "nvidia-a100-80gb-sxm4",
    }


def test_list_table_shows_units_and_dense_peaks():
    result = invoke("list", "a100")
    assert result.exit_code == 0, result.output
    for device_id in A100_IDS:
        assert device_id in result.stdout
    row = next(line for line in result.stdout.splitlines() if "nvidia-a100-40gb-sxm4" in line)
    # memory 40 GiB, 1555 GB/s, fp32 19.5, tf32 156, bf16 312 TFLOP/s, 400 W, the AWS capacity-block rate.
    for figure in ("40.0 GiB", "1.55 TB/s", "19.5 TFLOP/s", "156 TFLOP/s", "312 TFLOP/s", "400 W", "$1.84/h"):
        assert figure in row
    assert "NVIDIA A100 40GB SXM4" in result.stdout


def test_show_4090_gives_each_figure_with_its_sources():
    result = invoke("show", "4090")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "nvidia-geforce-rtx-4090" in out
    bandwidth = next(line for line in out.splitlines() if line.lstrip().startswith("bandwidth"))
    assert "1.01 TB/s" in bandwidth and "1.008e+12" in bandwidth  # 1008 GB/s, exact as stored
    assert "llmfit (third-party)" in bandwidth
    assert "https://cuttingedgegamer.com/2022/12/" in out  # the ceg source, cited for bandwidth
    assert "peak bf16" in out and "165 TFLOP/s" in out
    assert "list price" in out and "$1,599" in out
    assert "notes: AD102" in out


def test_show_json_for_a_forgiving_name():
    result = invoke("show", "a100 80gb pcie", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    device = data["device"]
    assert device["id"] == "nvidia-a100-80gb-pcie"
    assert device["memory_bytes"] == 80 * 2**30
    assert device["peak_flops_per_s"]["bf16"] == 312e12
    cited = {key for keys in device["sources"].values() for key in keys}
    assert cited == set(data["sources"])
    assert data["sources"]["gk-a100"]["trust"] == "vendor-via-third-party"
    assert data["sources"]["gk-a100"]["url"].startswith("https://")


def test_show_ambiguous_name_lists_the_candidates_in_one_line():
    line = one_line_error(invoke("show", "h100"), 2)
    for device_id in ("nvidia-h100-pcie-80gb", "nvidia-h100-sxm5-80gb", "nvidia-h100-nvl"):
        assert device_id in line
    assert "Name one of them" in line


def test_show_unknown_name_suggests_close_ones():
    line = one_line_error(invoke("show", "nvidia-a100-80gb-pcei"), 2)
    assert "no catalog device matches" in line
    assert "Did you mean" in line and "nvidia-a100-80gb-pcie" in line


def test_user_catalog_adds_devices_and_overrides_prices(user_catalog):
    devices = {d["id"]: d for d in list_json("--catalog", str(user_catalog))["devices"]}
    assert devices["lab-box-gpu"]["peak_flops_per_s"] == {"fp32": 80e12, "bf16": 160e12}
    rtx = devices["nvidia-geforce-rtx-4090"]
    assert rtx["price"]["list_usd"] == 1799.0 and rtx["price"]["list_date"] == "2026-11"
    assert rtx["bandwidth_bytes_per_s"] == 1008e9  # packaged figure untouched

    table = invoke("list", "lab", "--catalog", str(user_catalog)).stdout
    assert "lab-box-gpu" in table and "Lab Box GPU" in table and "160 TFLOP/s" in table

    shown = invoke("show", "4090", "--catalog", str(user_catalog))
    assert shown.exit_code == 0, shown.output
    price = next(line for line in shown.stdout.splitlines() if "list price" in line)
    assert "$1,799 (2026-11)" in price and "my-quote (vendor)" in price
    assert "Our vendor's quote for the lab" in shown.stdout
    assert "lab-box-gpu" in invoke("show", "lab box", "--catalog", str(user_catalog)).stdout


def test_user_catalog_from_the_environment(user_catalog, monkeypatch):
    monkeypatch.setenv(catalog_module.CATALOG_ENV, str(user_catalog))
    assert "lab-box-gpu" in {d["id"] for d in list_json()["devices"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[devices]\nid = ", "is not valid TOML"),
        ('[[devices]]\nid = "x"\nname = "X"\nvendor = "nvidia"\nkind = "quantum"\n', "device 'x'"),
    ],
)
@pytest.mark.parametrize("command", [("list",), ("show", "4090")])
def test_malformed_user_catalog_is_one_line_exit_2_naming_the_file(tmp_path, text, message, command):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    line = one_line_error(invoke(*command, "--catalog", str(bad)), 2)
    assert str(bad) in line and message in line


def test_missing_user_catalog_names_the_path(tmp_path):
    missing = tmp_path / "missing.toml"
    line = one_line_error(invoke("list", "--catalog", str(missing)), 2)
    assert f"cannot read catalog {missing}" in line
