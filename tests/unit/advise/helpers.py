"""Synthetic predictions for the advice tests: a step time, its bounds and its memory, nothing traced."""

from devicefit.records import PowerEstimate, Prediction


def prediction(
    device="gpu",
    *,
    batch_size=32,
    step_s=0.1,
    transfer_s=0.0,
    compute_s=None,
    memory_s=0.0,
    overhead_s=0.0,
    fits=True,
    power_w=100.0,
    peak_bytes=1e9,
    capacity=16e9,
):
    return Prediction(
        model="m",
        device=device,
        device_name=device.upper(),
        batch_size=batch_size,
        precision="fp32",
        mode="train",
        step_time_s=step_s,
        forward_s=step_s,
        backward_s=0.0,
        optimizer_s=0.0,
        transfer_s=transfer_s,
        compute_s=step_s if compute_s is None else compute_s,
        memory_s=memory_s,
        overhead_s=overhead_s,
        breakdown=(),
        peak_memory_bytes=peak_bytes,
        memory_capacity_bytes=capacity,
        fits=fits,
        max_batch_size=None,
        error_band=0.3,
        calibration="test",
        power=None
        if power_w is None
        else PowerEstimate(
            power_w=power_w,
            energy_j=power_w * step_s,
            samples_per_j=batch_size / (power_w * step_s),
            error_band=0.35,
            tdp_w=power_w,
            basis="test",
        ),
    )
