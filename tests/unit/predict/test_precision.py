"""Precisions and memory formats on a device: TF32 units, and cuDNN's NCHW transposes."""

import dataclasses

import pytest

from devicefit.predict.devices import catalog_default_model
from devicefit.predict.precision import layout_transpose_s, with_precision
from devicefit.predict.roofline import predict_step
from devicefit.predict.targets import resolve_targets
from devicefit.records import EfficiencyCurve, OpCost
from tests.unit.predict.helpers import make_cost, make_device, make_gpu, mm

A100 = "nvidia-a100-80gb-sxm4"
V100 = "nvidia-tesla-v100-sxm2-16gb"


def test_fp32_is_pytorch_s_defaults_and_tf32_moves_products_to_the_tf32_units(catalog):
    a100 = catalog_default_model(catalog.get(A100))
    # fp32: IEEE products, TF32 convolutions (cuDNN's default).
    assert (a100.fp32_matmul_dtype, a100.fp32_conv_dtype) == ("fp32", "tf32")
    tf32 = with_precision(a100, "tf32")
    assert (tf32.fp32_matmul_dtype, tf32.fp32_conv_dtype) == ("tf32", "tf32")
    # No TF32 rate (V100, CPUs): tf32 is fp32.
    v100 = catalog_default_model(catalog.get(V100))
    assert with_precision(v100, "tf32") == v100
    assert with_precision(make_device(), "tf32") == make_device()


def test_a_tf32_step_runs_its_products_at_the_tf32_peak():
    # 1000^3 product, 2e9 FLOP at half the peak: 4 ms at fp32's 1 TFLOP/s, 0.5 ms at tf32's 8.
    gpu = make_gpu(
        peak_flops_per_s={"fp32": 1e12, "tf32": 8e12},
        compute={
            "matmul.fp32": EfficiencyCurve(points=((1.0, 0.5),)),
            "matmul.tf32": EfficiencyCurve(points=((1.0, 0.5),)),
        },
    )
    ops = (mm(),)
    fp32 = predict_step(make_cost(infer_ops=ops), gpu, mode="infer", memory_kind="cuda")
    tf32 = predict_step(make_cost(infer_ops=ops, precision="tf32"), gpu, mode="infer", memory_kind="cuda")
    assert fp32.step_time_s == pytest.approx(4e-3, rel=0.01)
    assert tf32.step_time_s == pytest.approx(0.5e-3, rel=0.05)
    assert tf32.precision == "tf32"


def conv(dtype="fp16", layout_bytes=1e7):
    return OpCost(
        name="convolution",
        op_class="conv",
        module="conv1",
        phase="forward",
        flops=1e6,
        bytes_read=1e7,
        bytes_written=1e7,
        dtype=dtype,
        layout_bytes=layout_bytes,
    )


def test_half_convolutions_of_an_nchw_model_pay_cudnn_s_transposes():
    gpu = make_gpu(
        nchw_transpose_dtypes=("fp16", "bf16"), memory={"copy": EfficiencyCurve(points=((1.0, 0.5),))}
    )
    # Each of the 1e7 activation bytes read and written once at half of 100 GB/s: 2e7 / 5e10 = 0.4 ms.
    assert layout_transpose_s(conv(), gpu, channels_last=False) == pytest.approx(4e-4)
    # Channels-last, fp32 (TF32 kernels run NCHW), a device whose curves hold them, a CPU: none.
    assert layout_transpose_s(conv(), gpu, channels_last=True) == 0.0
    assert layout_transpose_s(conv("fp32"), gpu, channels_last=False) == 0.0
    assert layout_transpose_s(conv(), make_gpu(), channels_last=False) == 0.0
    assert layout_transpose_s(conv(), make_device(), channels_last=False) == 0.0
    # In a step: the NCHW model is the transposes slower than the channels-last one.
    nchw = make_cost(infer_ops=(conv(),), precision="amp")
    nhwc = dataclasses.replace(nchw, channels_last=True)
    slow = predict_step(nchw, gpu, mode="infer", memory_kind="cuda")
    fast = predict_step(nhwc, gpu, mode="infer", memory_kind="cuda")
    assert slow.step_time_s - fast.step_time_s == pytest.approx(4e-4)
    assert (slow.channels_last, fast.channels_last) == (False, True)


def test_catalog_gpus_with_half_tensor_cores_pay_transposes_and_others_do_not(catalog):
    def transposed(query):
        (target,) = resolve_targets(query, local_devices=(), catalog=catalog, calibrations=None).targets
        return target.model.nchw_transpose_dtypes

    assert transposed(A100) == ("fp16", "bf16")
    assert transposed(V100) == ("fp16",)  # Volta's tensor cores have no bf16
    assert transposed("nvidia-tesla-p100-pcie-16gb") == ()  # fp16 on vector units
    assert transposed("amd epyc 9654") == ()
