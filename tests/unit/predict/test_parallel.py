"""predict/parallel.py: layouts of several GPUs, their collectives, overlap and memory per GPU."""

import dataclasses

import pytest

from devicefit.analyze.memory import estimate_memory
from devicefit.catalog.links import load_links
from devicefit.predict.collectives import Link, collective_time_s
from devicefit.predict.parallel import (
    DDP_BUCKET_BYTES,
    DecoderShape,
    Fabric,
    Layout,
    bucketed_s,
    buckets,
    fabric,
    overlapped_end_s,
    parse_layout,
    scale_out,
)
from devicefit.predict.roofline import predict_step
from tests.unit.predict.helpers import TRACED, make_cost, make_gpu

MIB = 2**20
#: 100 GB/s of bus bandwidth, 10 us a ring step: round figures for the arithmetic below.
LINK = Link(bus_bytes_per_s=1e11, latency_s=1e-5)


def fabric_of(_nodes):
    return Fabric(link=LINK, description="hand link")


def single(**device):
    """The hand-made step on a GPU of 1 GB: its forward, backward and optimizer times and memory."""
    return predict_step(make_cost(), make_gpu(memory_bytes=1e9, **device), mode="train", memory_kind="cuda")


def memory_at(batch):
    return estimate_memory(
        TRACED, optimizer="sgd-momentum", foreach=False, memory_kind="cuda", batch_size=batch
    )


def test_layouts_parse_and_bad_ones_name_the_choices():
    assert parse_layout("DDP") == Layout(kind="ddp")
    assert parse_layout("tp=4") == Layout(kind="tp", tensor_parallel=4)
    assert parse_layout("tp=4").name == "tp=4"
    for bad in ("pipeline", "tp=0", "tp=x"):
        with pytest.raises(ValueError, match="ddp, fsdp, zero1, zero2, tp=K"):
            parse_layout(bad)


def test_ddp_buckets_are_a_first_small_one_then_25_mib():
    assert buckets(60 * MIB, DDP_BUCKET_BYTES, MIB) == [MIB, 25 * MIB, 25 * MIB, 9 * MIB]
    assert buckets(0.5 * MIB, DDP_BUCKET_BYTES, MIB) == [0.5 * MIB]


def test_a_stream_of_collectives_waits_for_each_to_be_ready():
    # Ready at 0, 1 and 5; 2 s each: 0-2, 2-4, 5-7.
    assert overlapped_end_s([2.0, 2.0, 2.0], [0.0, 1.0, 5.0]) == 7.0


def test_a_long_backward_hides_all_but_the_last_bucket():
    total = 51 * MIB  # buckets of 1, 25 and 25 MiB
    comm, exposed = bucketed_s("all_reduce", total, 8, LINK, backward_s=10.0)
    sizes = [MIB, 25 * MIB, 25 * MIB]
    assert comm == pytest.approx(sum(collective_time_s("all_reduce", s, 8, LINK) for s in sizes))
    # The last bucket is ready when the backward ends: it alone is exposed.
    assert exposed == pytest.approx(collective_time_s("all_reduce", 25 * MIB, 8, LINK))
    # Without a backward to hide behind, all of it is.
    assert bucketed_s("all_reduce", total, 8, LINK, backward_s=0.0)[1] == pytest.approx(comm)


def test_a_ring_across_machines_runs_at_their_adapters_and_the_networks_latency():
    links = load_links()
    nvswitch = links.node_link("nvidia-a100-80gb-sxm4")
    network = links.network(nvswitch)
    one = fabric(nvswitch, network, nodes=1, host_link_bytes_per_s=None)
    assert one.link == Link(bus_bytes_per_s=300e9 * 0.77, latency_s=1e-6)
    two = fabric(nvswitch, network, nodes=2, host_link_bytes_per_s=None)
    # Eight HDR adapters of 25 GB/s at 90%: 180 GB/s, below NVLink's 231.
    assert two.link.bus_bytes_per_s == pytest.approx(8 * 25e9 * 0.9)
    assert two.link.latency_s == 5e-6 and "InfiniBand HDR" in two.description
    # A GPU without NVLink runs over its own PCIe link.
    pcie = links.node_link("nvidia-t4")
    assert pcie.id == "pcie"
    assert fabric(pcie, None, nodes=1, host_link_bytes_per_s=15.75e9).link.bus_bytes_per_s == pytest.approx(
        15.75e9 * 0.7
    )
    with pytest.raises(ValueError, match="rate of this GPU is unknown"):
        fabric(pcie, None, nodes=1, host_link_bytes_per_s=None)


def test_ddp_adds_the_exposed_all_reduce_and_a_bucket_copy_of_the_gradients():
    one = single()
    scaled = scale_out(
        one,
        Layout(kind="ddp"),
        gpus=8,
        nodes=1,
        fabric_of=fabric_of,
        trainable_bytes=4e6,
        memory_at=memory_at,
    )
    comm, exposed = bucketed_s("all_reduce", 4e6, 8, LINK, one.backward_s)
    assert (scaled.comm_s, scaled.exposed_comm_s) == pytest.approx((comm, exposed))
    assert scaled.step_time_s == pytest.approx(one.step_time_s + exposed)
    assert (scaled.gpus, scaled.replicas, scaled.parallel) == (8, 8, "ddp")
    assert scaled.throughput_samples_per_s == pytest.approx(8 * 8 / scaled.step_time_s)
    assert scaled.scaling_efficiency == pytest.approx(one.step_time_s / scaled.step_time_s)
    assert scaled.peak_memory_bytes == pytest.approx(one.peak_memory_bytes + 4e6)
    assert scaled.max_batch_size <= one.max_batch_size


def test_sharded_layouts_divide_the_state_the_update_and_then_gradients_and_weights():
    one = single()
    kwargs = dict(gpus=4, nodes=1, fabric_of=fabric_of, trainable_bytes=4e6, memory_at=memory_at)
    zero1 = scale_out(one, Layout(kind="zero1"), **kwargs)
    zero2 = scale_out(one, Layout(kind="zero2"), **kwargs)
    fsdp = scale_out(one, Layout(kind="fsdp"), **kwargs)
    base = one.memory
    assert zero1.memory.optimizer_state_bytes == pytest.approx(base.optimizer_state_bytes / 4)
    assert zero1.memory.gradients_bytes == base.gradients_bytes
    assert zero2.memory.gradients_bytes == pytest.approx(base.gradients_bytes / 4)
    # FSDP: a quarter of the weights, plus two whole units (here one unit: the whole model) gathered.
    assert fsdp.memory.weights_bytes == pytest.approx(base.weights_bytes / 4 + 2 * 4e6 * 3 / 4)
    # Each GPU updates its quarter of the parameters.
    assert zero1.optimizer_s == pytest.approx(one.optimizer_s / 4)
    # ZeRO gathers the updated parameters after the step: exposed.
    gather = collective_time_s("all_gather", 4e6, 4, LINK)
    assert zero1.exposed_comm_s >= gather
    assert fsdp.comm_s == pytest.approx(2 * gather + collective_time_s("reduce_scatter", 4e6, 4, LINK))


def test_tensor_parallel_splits_the_step_and_all_reduces_each_blocks_activations():
    one = single()
    shape = DecoderShape(width=1024, depth=12, sequence_length=512)
    tp = scale_out(
        one,
        Layout(kind="tp", tensor_parallel=4),
        gpus=4,
        nodes=1,
        fabric_of=fabric_of,
        trainable_bytes=4e6,
        activation_bytes=2,
        decoder=shape,
    )
    # Batch 8 x 512 tokens x 1024 wide x 2 bytes, twice forward and twice backward per block.
    per_block = collective_time_s("all_reduce", 8 * 512 * 1024 * 2, 4, LINK)
    assert tp.comm_s == pytest.approx(4 * 12 * per_block) and tp.exposed_comm_s == tp.comm_s
    assert tp.step_time_s == pytest.approx(one.step_time_s / 4 + tp.comm_s)
    assert tp.replicas == 1
    # Each GPU runs a quarter of every operator class.
    assert tp.compute_s == pytest.approx(one.compute_s / 4)
    assert sum(c.time_s for c in tp.breakdown) == pytest.approx(sum(c.time_s for c in one.breakdown) / 4)
    assert tp.memory.weights_bytes == pytest.approx(one.memory.weights_bytes / 4)
    with pytest.raises(ValueError, match="decoder family"):
        scale_out(
            one,
            Layout(kind="tp", tensor_parallel=2),
            gpus=2,
            nodes=1,
            fabric_of=fabric_of,
            trainable_bytes=4e6,
        )
    with pytest.raises(ValueError, match="one machine"):
        scale_out(
            one,
            Layout(kind="tp", tensor_parallel=8),
            gpus=8,
            nodes=2,
            fabric_of=fabric_of,
            trainable_bytes=4e6,
            decoder=shape,
        )


def test_inference_and_a_single_gpu_are_not_scaled():
    infer = dataclasses.replace(single(), mode="infer")
    with pytest.raises(ValueError, match="training"):
        scale_out(infer, Layout(kind="ddp"), gpus=8, nodes=1, fabric_of=fabric_of, trainable_bytes=4e6)
    with pytest.raises(ValueError, match="2 GPUs or more"):
        scale_out(single(), Layout(kind="ddp"), gpus=1, nodes=1, fabric_of=fabric_of, trainable_bytes=4e6)


def test_every_link_figure_has_a_known_source_and_every_listed_gpu_is_catalogued(catalog):
    links = load_links()
    for link in links.links:
        for field in ("bus_fraction", "latency_s"):
            assert link.sources[field], (link.id, field)
        for device in link.devices:
            assert catalog.get(device) is not None, device
    assert links.node_link("nvidia-tesla-v100-sxm2-16gb").id == "nvlink2-dgx1"
    assert links.network(links.node_link("nvidia-tesla-v100-sxm2-16gb")).id == "infiniband-edr"
