"""Which convolutions PyTorch runs channel-blocked."""

import itertools

from devicefit.analyze.shapes import (
    THREADED_BELOW_BATCH,
    channel_blocking_at,
    conv_channel_blocking,
    runs_blocked,
)


def test_which_convolutions_pytorch_runs_channel_blocked():
    def blocking(batch=8, elements=10**6, kernel=(3, 3), strided=False, groups=1, dtype="fp32"):
        return conv_channel_blocking(
            batch=batch, input_elements=elements, kernel=kernel, strided=strided, groups=groups, dtype=dtype
        )

    assert blocking() == "always"
    # Small layers at batch 1 run by PyTorch's own kernels: 3x3 on 64 x 14 x 14 (12544 elements),
    # not on 64 x 28 x 28, and never a 5x5 (kernels over 3x3 always go to oneDNN).
    assert blocking(batch=1, elements=64 * 14 * 14) == "never"
    assert blocking(batch=1, elements=64 * 28 * 28) == "always"
    assert blocking(batch=1, elements=3 * 32 * 32, kernel=(5, 5)) == "always"
    # Unstrided 1x1 layers below batch 16: oneDNN only with more than one thread.
    assert blocking(batch=4, kernel=(1, 1)) == "threaded"
    assert blocking(batch=16, kernel=(1, 1)) == blocking(batch=4, kernel=(1, 1), strided=True) == "always"
    # Grouped layers run by oneDNN's GEMM; bf16 always by oneDNN.
    assert blocking(groups=2) == "never"
    assert blocking(batch=1, elements=100, dtype="bf16") == "always"
    assert runs_blocked("threaded", 2) and not runs_blocked("threaded", 1) and not runs_blocked("never", 8)


def test_channel_blocking_at_another_batch_agrees_with_the_rule_or_declines():
    for kernel in ([1, 1], [3, 3], [7, 7], [1]):
        for strided, groups, dtype in itertools.product((False, True), (1, 4), ("fp32", "bf16")):
            per_sample = 3 * 16 * 16

            def blocking(batch, kernel=kernel, strided=strided, groups=groups, dtype=dtype, size=per_sample):
                return conv_channel_blocking(
                    batch=batch,
                    input_elements=batch * size,
                    kernel=kernel,
                    strided=strided,
                    groups=groups,
                    dtype=dtype,
                )

            for traced, batch in itertools.product(range(1, 40), repeat=2):
                derived = channel_blocking_at(blocking(traced), traced, batch)
                assert derived in (None, blocking(batch)), (kernel, strided, groups, dtype, traced, batch)
                if min(traced, batch) >= 2 and not traced >= THREADED_BELOW_BATCH > batch:
                    assert derived is not None  # above batch 1, it declines only going down past 16
    assert channel_blocking_at("", 2, 64) == ""
