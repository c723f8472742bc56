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


H100_IDS = ["nvidia-h100-pcie-80gb", "nvidia-h100-sxm5-80gb", "nvidia-h100-nvl"]


def test_show_a_name_several_devices_share_shows_each_as_predict_takes_them():
    result = invoke("show", "h100")
    assert result.exit_code == 0, result.output
    assert f"'h100' matches 3 catalog devices: {', '.join(H100_IDS)}" in result.stdout
    assert result.stdout.count("Sources") == 3
    data = json.loads(invoke("show", "h100", "--json").stdout)
    assert [d["id"] for d in data["devices"]] == H100_IDS  # the 'catalog list --json' shape
    cited = {key for d in data["devices"] for keys in d["sources"].values() for key in keys}
    assert cited == set(data["sources"])
    # The same resolver: predict --device h100 predicts exactly these three.
    assert [d.id for d in catalog_module.load_catalog().resolve("h100")] == H100_IDS


def test_mi250x_is_shown_per_gcd_with_its_package():
    shown = invoke("show", "mi250x")
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.stdout.splitlines() if "devices per package" in line)
    assert " 2: PyTorch sees each as its own GPU" in row and "rocm-mi250-doc (vendor)" in row
    memory = next(line for line in shown.stdout.splitlines() if line.lstrip().startswith("memory "))
    assert "64.0 GiB" in memory  # one GCD's half of the package's 128 GB
    listed = invoke("list", "mi250")
    assert "AMD Instinct MI250 GCD (2 per package)" in listed.stdout
    assert (
        "22.6 TFLOP/s" in listed.stdout and "181 TFLOP/s" in listed.stdout
    )  # 104 CU x 128 / x 1024 x 1.7 GHz


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


def test_a_user_entry_without_sources_cites_user_provided_with_the_file(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text(
        '[[devices]]\nid = "my-gpu"\nname = "My GPU"\nvendor = "nvidia"\nkind = "gpu"\n'
        'architecture = "ada"\nbandwidth_bytes_per_s = 1e12\npeak_flops_per_s = { fp32 = 8e13 }\n'
        '[[devices]]\nid = "nvidia-geforce-rtx-4090"\ntdp_w = 500\n'
    )
    data = list_json("--catalog", str(mine))
    devices = {d["id"]: d for d in data["devices"]}
    assert devices["my-gpu"]["sources"] == {
        "bandwidth_bytes_per_s": ["user-provided"],
        "peak_flops_per_s.fp32": ["user-provided"],
    }
    # An override without a source no longer cites the packaged source of the figure it replaced.
    assert devices["nvidia-geforce-rtx-4090"]["sources"]["tdp_w"] == ["user-provided"]
    assert devices["nvidia-geforce-rtx-4090"]["sources"]["bandwidth_bytes_per_s"] != ["user-provided"]
    assert data["sources"]["user-provided"]["trust"] == "user"
    assert str(mine) in data["sources"]["user-provided"]["citation"]


def test_a_user_entry_reports_every_missing_and_unknown_field_at_once(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[devices]]\nid = "my-gpu"\nname = "My GPU"\nmemory_bytes = "lots"\nbandwith_bytes_per_s = 1e12\n'
    )
    line = one_line_error(invoke("list", "--catalog", str(bad)), 2)
    assert "unknown field 'bandwith_bytes_per_s' (did you mean 'bandwidth_bytes_per_s'?)" in line
    assert "missing fields 'vendor', 'kind', 'architecture'" in line
    assert "field 'memory_bytes'" in line
    assert "docs/catalog.md" in line


def test_the_documented_example_entry_loads_and_predicts(tmp_path):
    from pathlib import Path

    from devicefit.data import load_toml_file
    from devicefit.predict.devices import catalog_default_model

    doc = Path(__file__).parents[3] / "docs" / "catalog.md"
    example = tmp_path / "my.toml"
    example.write_text(doc.read_text().split("```toml\n")[1].split("```")[0])
    loaded = catalog_module.build_catalog([packaged(), ("my.toml", load_toml_file(example))])
    acme = loaded.get("acme-x1-48gb")
    assert acme.peak_flops_per_s["bf16"] == 1.5e14 and acme.price.list_usd == 6500.0
    assert acme.sources["memory_bytes"] == ("my-datasheet",) and acme.sources["tdp_w"] == ("user-provided",)
    assert catalog_default_model(acme).device == "acme-x1-48gb"


def packaged():
    from devicefit.data import load_packaged_toml

    return ("devicefit/catalog/devices.toml", load_packaged_toml("devicefit.catalog", "devices.toml"))


def test_missing_user_catalog_names_the_path(tmp_path):
    missing = tmp_path / "missing.toml"
    line = one_line_error(invoke("list", "--catalog", str(missing)), 2)
    assert f"cannot read catalog {missing}" in line


@pytest.fixture
def _no_user_prices(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_config_path", lambda name: tmp_path / "config")


def test_catalog_prices_json_has_a_date_and_source_for_every_price(_no_user_prices):
    result = runner.invoke(app, ["catalog", "prices", "aws h100", "--json"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (p5,) = data["instances"]
    assert (p5["id"], p5["device"], p5["num_gpus"], p5["usd_per_hour"]) == (
        "aws/p5.48xlarge",
        "nvidia-h100-sxm5-80gb",
        8,
        98.32,
    )
    assert p5["usd_per_gpu_hour"] == pytest.approx(98.32 / 8)
    assert p5["observed"] and p5["source"] and p5["quality"] == "stale" and isinstance(p5["stale"], bool)
    assert data["electricity"]["usd_per_kwh"] > 0 and data["carbon"]["g_co2_per_kwh"] > 0
    assert data["as_of"] and data["files"] == []


def test_catalog_prices_table_marks_stale_prices_and_names_the_grid_sources(_no_user_prices):
    result = runner.invoke(app, ["catalog", "prices", "lambda"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "lambda/gpu_8x_v100" in result.stdout and "stale" in result.stdout
    assert "Electricity $" in result.stdout and "EIA" in result.stdout and "Ember" in result.stdout


def test_catalog_prices_bad_file_is_one_line_exit_2(tmp_path, _no_user_prices):
    bad = tmp_path / "prices.toml"
    bad.write_text('[[instances]]\nid = "aws/p3.2xlarge"\nusd_per_hour = 0\ndate = "2026-01"\n')
    result = runner.invoke(app, ["catalog", "prices", "--prices", str(bad)])
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "instance 'aws/p3.2xlarge': field 'usd_per_hour' must be positive" in line
