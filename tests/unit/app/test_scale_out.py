"""Multi-GPU prediction on this machine's own GPUs takes the link calibrate --nproc measured."""

from dataclasses import replace

import devicefit
from devicefit.app.predict import scale_out_for, scaled
from devicefit.predict.roofline import predict_step
from devicefit.predict.targets import catalog_target
from devicefit.records import CollectiveLink, DeviceDescription


def _local_h100(links):
    catalog = devicefit.load_catalog()
    spec = catalog.find("nvidia-h100-sxm5")
    target = catalog_target(spec, [], catalog=catalog)
    model = replace(target.model, device="cuda:0", links=links)
    description = DeviceDescription(
        id="cuda:0",
        kind="cuda",
        name="NVIDIA H100",
        vendor="nvidia",
        memory_bytes=80 << 30,
        catalog_id=spec.id,
    )
    return replace(target, model=model, local=True), (description,)


def test_a_measured_local_link_replaces_the_catalog_link():
    cost = devicefit.profile("resnet18", batch_size=32)
    slow = {
        "all_reduce": CollectiveLink(bus_bytes_per_s=1e9, latency_s=1e-4, num_processes=2, backend="nccl")
    }
    scale = scale_out_for(2)
    assert scale is not None
    steps = {}
    for name, links in (("catalog", {}), ("measured", slow)):
        target, local = _local_h100(links)
        one = predict_step(cost, target.model, mode="train", memory_kind="cuda")
        steps[name] = scaled(one, cost, target, scale, local=local)
    assert "measured here (nccl, 2 processes)" in steps["measured"].interconnect
    assert "measured" not in steps["catalog"].interconnect
    # 1 GB/s against NVLink's hundreds: the measured link's all-reduce is what bounds the step.
    assert steps["measured"].comm_s > 50 * steps["catalog"].comm_s
    # Four GPUs were never measured together here: the catalog's link, not the 2-process one.
    four = scale_out_for(4)
    assert four is not None
    target, local = _local_h100(slow)
    one = predict_step(cost, target.model, mode="train", memory_kind="cuda")
    assert "measured" not in scaled(one, cost, target, four, local=local).interconnect
