"""benchmarks/published_error.py: published rows mapped to zoo, catalog and devicefit names; the summary."""

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from devicefit.workloads import model_info

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "published_error.py"

#: Four single-GPU rows of ../shared/published/dle-convnets.csv as published (sources shortened),
#: one multi-GPU row and one EfficientNet-quant row.
CSV = textwrap.dedent(
    """\
    model,framework,task,gpu,num_gpus,precision,batch_per_gpu,throughput,unit,latency_ms,source
    ResNeXt101-32x4d (ImageNet 224),PyTorch,training,V100-SXM2-16GB,1,FP32,64,147,img/s,,"resnext L578"
    EfficientNet-b4 (ImageNet),PyTorch,training,A100-SXM4-80GB,1,TF32,64,157,img/s,,"efficientnet L587"
    EfficientNet-widese-b4 (ImageNet),PyTorch,inference,A100-SXM4-80GB,1,AMP,4,259,img/s,17.33,"L647"
    SE-ResNeXt101-32x4d (ImageNet 224),PyTorch,inference,T4,1,FP32,1,40,img/s,25.1,"se-resnext L640"
    ResNeXt101-32x4d (ImageNet 224),PyTorch,training,V100-SXM2-16GB,8,FP32,64,1100,img/s,,"resnext L578"
    EfficientNet-quant-b0 (ImageNet),PyTorch,training,V100-SXM2-32GB,8,FP32,128,3798,img/s,,"L820"
    """
)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("published_error", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the script is executed.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_single_gpu_rows_are_mapped_as_the_source_ran_them(script):
    selection = script.parse_rows(CSV.splitlines())
    assert (selection.quantized, selection.filtered) == (1, 0)
    resnext, b4_train, widese_infer, se_t4, _ = selection.rows
    assert resnext.zoo_name == "resnext101-32x4d" and resnext.optimizer == "sgd-momentum"
    assert resnext.catalog_name == "NVIDIA Tesla V100 SXM2 16GB" and resnext.mode == "train"
    assert (resnext.precision, resnext.channels_last, resnext.batch_size) == ("fp32", False, 64)
    # 64 images at 147 img/s.
    assert resnext.published_time_s == pytest.approx(64 / 147)
    # DLE trains B4 at 320 and benchmarks its inference at 384, with RMSprop (configs.yml).
    assert b4_train.zoo_name == "efficientnet-b4@320" and b4_train.optimizer == "rmsprop-momentum"
    assert (b4_train.precision, b4_train.catalog_name) == ("tf32", "NVIDIA A100 80GB SXM4")
    assert widese_infer.zoo_name == "efficientnet-widese-b4@384" and widese_infer.mode == "infer"
    assert (widese_infer.precision, widese_infer.channels_last) == ("amp", True)
    assert se_t4.catalog_name == "NVIDIA T4" and se_t4.zoo_name == "se-resnext101-32x4d"


def test_multi_gpu_rows_are_predicted_on_dgx_machines_against_the_one_gpu_row(script):
    multi = script.parse_rows(CSV.splitlines()).rows[-1]
    assert (multi.num_gpus, multi.nodes, multi.batch_size) == (8, 1, 64)
    # 8 GPUs of 64 images each at 1100 img/s in all; the same source's one GPU makes 147.
    assert multi.published_time_s == pytest.approx(8 * 64 / 1100)
    assert multi.published_scaling_efficiency == pytest.approx(1100 / (8 * 147))
    sixteen = script.parse_rows(CSV.replace(",8,FP32,64,1100", ",16,FP32,64,2200").splitlines()).rows[-1]
    assert sixteen.nodes == 2


def test_every_mapped_name_resolves_in_the_zoo_and_the_catalog(script, catalog):
    for row in script.parse_rows(CSV.splitlines()).rows:
        assert model_info(row.zoo_name).family == "cnn"
        assert catalog.find(row.catalog_name).name == row.catalog_name


def test_filters_count_what_they_leave_out(script):
    selection = script.parse_rows(
        CSV.splitlines(), precisions=frozenset({"FP32"}), modes=frozenset({"training"})
    )
    assert [(r.zoo_name, r.num_gpus) for r in selection.rows] == [
        ("resnext101-32x4d", 1),
        ("resnext101-32x4d", 8),
    ]
    assert selection.filtered == 3


def test_an_unknown_gpu_is_an_error_naming_the_row(script):
    text = CSV.replace("T4,1,FP32", "H800,1,FP32")
    with pytest.raises(ValueError, match="no mapping for 'H800' in se-resnext L640"):
        script.parse_rows(text.splitlines())


def test_a_row_that_fails_is_counted_with_its_reason_and_errors_are_on_time(script):
    rows = script.parse_rows(CSV.splitlines()).rows

    def predict(row, db):
        if row.precision == "amp":
            raise TypeError("predict_step() got an unexpected keyword argument 'channels_last'")
        return row.published_time_s * (1.2 if row.mode == "train" else 0.9)

    outcomes = [script.predict_row(row, "unused.db", predict) for row in rows]
    assert (
        outcomes[2].reason == "TypeError: predict_step() got an unexpected keyword argument 'channels_last'"
    )
    summary = script.summarize(outcomes)
    assert (summary["rows"], summary["predicted"]) == (4, 3)
    # Predicted times 1.2x and 0.9x the published: errors +20%, +20%, -10%.
    assert summary["median_abs_error"] == pytest.approx(0.2)
    assert summary["by"]["mode"]["infer"]["median_abs_error"] == pytest.approx(0.1)
    assert set(summary["by"]) == {"gpu", "mode", "precision", "gpus"}
    assert summary["by"]["gpu"]["V100-SXM2-16GB"]["n"] == 1
    # The 8-GPU row is summed up apart: its step 1.2x the published is a throughput 1/1.2 of it.
    assert summary["by"]["gpus"]["8"]["median_abs_error"] == pytest.approx(0.2)
    assert summary["multi_gpu"]["throughput"]["median_abs_error"] == pytest.approx(1 - 1 / 1.2)
    assert summary["by"]["gpus"]["1"]["predicted"] == 3


def test_rows_the_source_marks_suspect_are_counted_and_also_summed_up_without(script):
    text = CSV.replace('"se-resnext L640"', '"se-resnext L640 [SUSPECT: implausible 1-GPU numbers]"')
    rows = script.parse_rows(text.splitlines()).rows[:4]
    assert [row.suspect for row in rows] == [False, False, False, True]
    outcomes = [script.predict_row(row, "unused.db", lambda r, db: r.published_time_s * 1.5) for row in rows]
    outcomes[-1] = script.predict_row(rows[-1], "unused.db", lambda r, db: r.published_time_s * 3)
    summary = script.summarize(outcomes)
    assert summary["predicted"] == 4 and summary["p90_abs_error"] == pytest.approx(2.0)
    assert summary["without_suspect"]["n"] == 3 and summary["without_suspect"][
        "p90_abs_error"
    ] == pytest.approx(0.5)
