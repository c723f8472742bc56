"""The packaged price table: the shared rows resolved to the catalog; staleness, overrides, bad files."""

import csv
from datetime import date
from pathlib import Path

import platformdirs
import pytest

from devicefit.catalog.prices import STALE_AFTER_DAYS, earliest_day, is_stale, load_prices
from devicefit.errors import UsageError

SHARED_PRICES = Path(__file__).parents[3] / ".." / "shared" / "prices" / "cloud-gpu-prices.csv"
#: Rows of the shared table whose GPU the catalog lacks, so the package cannot ship them.
NOT_IN_CATALOG = {"A10G", "RTX A6000", "TPU v6e"}
TODAY = date(2026, 12, 7)


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    """The user's config dir is a temporary one: a prices.toml there is the test's own."""
    config = tmp_path / "config"
    monkeypatch.setattr(platformdirs, "user_config_path", lambda name: config)
    return config


@pytest.fixture(scope="module")
def packaged():
    return load_prices(today=TODAY)


def test_every_instance_resolves_to_a_catalog_gpu_and_has_its_provenance(packaged, catalog):
    assert len({p.id for p in packaged.instances}) == len(packaged.instances) > 0
    for price in packaged.instances:
        spec = catalog.get(price.device)
        assert spec is not None and spec.kind == "gpu", price.id
        assert price.usd_per_hour > 0 and price.num_gpus >= 1
        assert price.source and price.observed and price.quality, price.id
        assert price.id == price.id.lower() and price.id.startswith(f"{price.provider}/")


@pytest.mark.skipif(not SHARED_PRICES.is_file(), reason="the shared price table is not beside this checkout")
def test_shipped_prices_are_the_shared_table_rows_and_nothing_else(packaged):
    rows = list(csv.DictReader(SHARED_PRICES.open()))
    shipped = {(p.provider, p.instance): p for p in packaged.instances}
    expected = [r for r in rows if r["gpu"] not in NOT_IN_CATALOG]
    assert len(shipped) == len(expected)
    for row in expected:
        price = shipped[(row["provider"], row["instance"])]
        assert price.usd_per_hour == float(row["price_usd_per_h"])
        assert (price.num_gpus, price.billing, price.observed, price.source, price.quality) == (
            int(row["gpu_count"]),
            row["billing"],
            row["observed"],
            row["source"],
            row["quality"],
        )
        assert price.region == (row["region"] or None)
    # The one published spot price rides along; no other row invents one.
    spots = {p.id: p.spot_usd_per_hour for p in packaged.instances if p.spot_usd_per_hour}
    assert spots == {"runpod/a100-80gb-pcie-secure": 1.19}


def test_dates_count_from_their_first_day():
    assert earliest_day("2025") == date(2025, 1, 1)
    assert earliest_day("2025-06") == date(2025, 6, 1)
    assert earliest_day("2026-05-07") == date(2026, 5, 7)
    with pytest.raises(ValueError):
        earliest_day("catalog v7")


def test_a_price_is_stale_once_it_may_be_over_a_year_old():
    assert STALE_AFTER_DAYS == 365
    assert not is_stale("2026-05-07", today=date(2027, 5, 7))
    assert is_stale("2026-05-07", today=date(2027, 5, 8))
    # "2025" may mean January 2025: stale by February 2026, although December 2025 would not be.
    assert is_stale("2025", today=date(2026, 2, 1))
    assert is_stale(None, today=date(2020, 1, 1))


def test_staleness_follows_the_day_it_is_judged_on(catalog):
    early = load_prices(catalog=catalog, today=date(2026, 6, 1))
    late = load_prices(catalog=catalog, today=date(2027, 12, 1))
    lambda_h100 = "lambda/gpu_1x_h100_sxm"  # observed 2026-05-07
    assert not next(p for p in early.instances if p.id == lambda_h100).stale
    assert next(p for p in late.instances if p.id == lambda_h100).stale
    assert all(p.stale for p in late.instances)
    # Undated rows are stale on any day.
    assert next(p for p in early.instances if p.id == "lambda/gpu_8x_v100").stale
    assert early.as_of == "2026-06-01"


def test_electricity_and_carbon_defaults_carry_their_sources(packaged):
    assert packaged.electricity.usd_per_kwh > 0 and "EIA" in packaged.electricity.source
    assert packaged.carbon.g_co2_per_kwh > 0 and "Ember" in packaged.carbon.source
    assert packaged.electricity.date and packaged.carbon.date


def test_user_files_override_by_id_and_add_instances(tmp_path, _config_dir, catalog):
    _config_dir.mkdir()
    (_config_dir / "prices.toml").write_text(
        '[[instances]]\nid = "aws/p3.2xlarge"\nusd_per_hour = 2.50\ndate = "2026-11-02"\n\n'
        '[[instances]]\nid = "gcp/a3-highgpu-1g"\nregion = "us-east4"\n'
    )
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[[instances]]\nid = "acme/h100x2"\nprovider = "acme"\ninstance = "h100x2"\ndevice = "h100 sxm"\n'
        'num_gpus = 2\nusd_per_hour = 5.0\nbilling = "bundled"\ndate = "2026-12-01"\n'
        'source = "acme.example/pricing"\n\n[electricity]\nusd_per_kwh = 0.30\ndate = "2026-10"\n'
    )
    table = load_prices([extra], catalog=catalog, today=TODAY)
    by_id = {p.id: p for p in table.instances}
    mine = by_id["aws/p3.2xlarge"]
    # The user's price brings its own date and provenance; the packaged source no longer applies.
    assert (mine.usd_per_hour, mine.date, mine.quality, mine.stale) == (2.50, "2026-11-02", "user", False)
    assert mine.source == f"the user's price file {_config_dir / 'prices.toml'}" and mine.note == ""
    assert mine.device == "nvidia-tesla-v100-sxm2-16gb" and mine.num_gpus == 1
    # Changing a field that is no price keeps the packaged provenance.
    region = by_id["gcp/a3-highgpu-1g"]
    assert (region.region, region.quality, region.usd_per_hour) == ("us-east4", "conflicting", 5.38327)
    added = by_id["acme/h100x2"]
    assert (added.device, added.source, added.usd_per_gpu_hour) == (
        "nvidia-h100-sxm5-80gb",
        "acme.example/pricing",
        2.5,
    )
    assert table.electricity.usd_per_kwh == 0.30 and table.electricity.quality == "user"
    assert table.files == (str(_config_dir / "prices.toml"), str(extra))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '[[instances]]\nid = "aws/p3.2xlarge"\nusd_per_hour = -1.0\ndate = "2026-01"\n',
            "field 'usd_per_hour' must be positive",
        ),
        ('[[instances]]\nid = "aws/p3.2xlarge"\nusd_per_hour = 3.0\n', "needs 'date'"),
        ('[[instances]]\nid = "aws/p3.2xlarge"\nusd_per_hour = 3.0\ndate = "last week"\n', "field 'date'"),
        (
            '[[instances]]\nid = "aws/p3.2xlarge"\nnum_gpu = 2\n',
            "unknown field 'num_gpu' (did you mean 'num_gpus'?)",
        ),
        (
            '[[instances]]\nid = "aws/p3.2xlarge"\ndevice = "voodoo 5"\n',
            "field 'device': no catalog device matches 'voodoo 5'",
        ),
        (
            '[[instances]]\nid = "aws/p3.2xlarge"\ndevice = "h100"\n',
            "field 'device': 'h100' matches 3 catalog devices",
        ),
        ('[[instances]]\nid = "aws/p3.2xlarge"\nstale = false\n', "field 'stale' is computed"),
        ('[[instances]]\nid = "x/y"\nusd_per_hour = 1.0\ndate = "2026"\n', "missing fields"),
        ('[[instances]]\nprovider = "x"\n', "instance 1 has no 'id'"),
        ("[gpus]\nx = 1\n", "unknown table 'gpus'"),
        ('[electricity]\nusd_per_kwh = "cheap"\ndate = "2026"\n', "[electricity]: field 'usd_per_kwh'"),
    ],
    ids=[
        "negative price",
        "price without date",
        "bad date",
        "misspelt field",
        "unknown device",
        "ambiguous device",
        "stale given",
        "new instance missing fields",
        "no id",
        "unknown table",
        "electricity not a number",
    ],
)
def test_a_bad_entry_is_one_line_naming_file_entry_and_field(tmp_path, catalog, text, problem):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(UsageError) as raised:
        load_prices([bad], catalog=catalog, today=TODAY)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"bad price table: {bad}: ")
    assert problem in message, message
    assert "docs/catalog.md#prices" in message


def test_unreadable_or_invalid_files(tmp_path, catalog):
    with pytest.raises(UsageError, match="cannot read price file .*missing.toml"):
        load_prices([tmp_path / "missing.toml"], catalog=catalog)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[instances]\n")
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_prices([broken], catalog=catalog)
