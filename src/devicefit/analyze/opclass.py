"""Classes of ATen operators, and devicefit's FLOP conventions for the operators PyTorch does not count.

PyTorch's FLOP counter (``torch.utils.flop_counter``) has formulas for matrix products,
convolutions and attention. For the memory-bound rest devicefit counts, by convention: one FLOP
per output element for pointwise arithmetic, one per input element for reductions, and a fixed
small number per element for normalizations and softmax (written next to each entry below);
pure data movement is zero FLOPs. An operator in none of these lists has *no* formula: it is
reported in the coverage figure, never silently counted as zero.
"""

from __future__ import annotations

#: Operator classes, in the order reports list them.
OP_CLASSES = (
    "matmul",
    "conv",
    "attention",
    "normalization",
    "elementwise",
    "reduction",
    "embedding",
    "data movement",
    "other",
)

#: Matrix products; recurrent layers are counted here, their cost being the gates' matrix products.
_MATMUL = {
    "mm",
    "addmm",
    "bmm",
    "baddbmm",
    "_int_mm",
    "_scaled_mm",
    "addmv",
    "mv",
    "dot",
    "matmul",
    "linear",
    "mkldnn_rnn_layer",
    "mkldnn_rnn_layer_backward",
    "_cudnn_rnn",
    "_cudnn_rnn_backward",
}
_CONV = {
    "convolution",
    "convolution_backward",
    "_convolution",
    "cudnn_convolution",
    "_slow_conv2d_forward",
    "_slow_conv2d_backward",
    "mkldnn_convolution",
    "convolution_overrideable",
    "_convolution_double_backward",
    "miopen_convolution",
    "slow_conv_dilated2d",
    "_nnpack_spatial_convolution",
}
_ATTENTION_PREFIXES = ("_scaled_dot_product", "_flash_attention", "_efficient_attention", "flex_attention")
#: Normalizations, with the FLOPs per element they are counted at (mean, variance, scale, shift;
#: backward about twice the forward).
_NORMALIZATION = {
    "native_batch_norm": 5,
    "_native_batch_norm_legit": 5,
    "_native_batch_norm_legit_no_training": 2,
    "_native_batch_norm_legit_functional": 5,
    "native_batch_norm_backward": 10,
    "batch_norm_backward": 10,
    "native_layer_norm": 5,
    "native_layer_norm_backward": 10,
    "native_group_norm": 5,
    "native_group_norm_backward": 10,
    "_fused_rms_norm": 4,
    "_fused_rms_norm_backward": 8,
    "rms_norm": 4,
    "_batch_norm_with_update": 5,
    "_batch_norm_no_update": 2,
    "cudnn_batch_norm": 5,
    "cudnn_batch_norm_backward": 10,
    "miopen_batch_norm": 5,
    "miopen_batch_norm_backward": 10,
}
#: Row-wise reductions counted per input element: softmax is max, subtract, exp, sum, divide.
_REDUCTION = {
    "_softmax": 5,
    "_safe_softmax": 5,
    "_log_softmax": 5,
    "_softmax_backward_data": 3,
    "_log_softmax_backward_data": 3,
    "nll_loss_forward": 1,
    "nll_loss_backward": 1,
    "nll_loss2d_forward": 1,
    "nll_loss2d_backward": 1,
    "max_pool2d_with_indices": 1,
    "max_pool2d_with_indices_backward": 1,
    "avg_pool2d": 1,
    "avg_pool2d_backward": 1,
    "_adaptive_avg_pool2d": 1,
    "_adaptive_avg_pool2d_backward": 1,
    "adaptive_max_pool2d": 1,
    "max_pool2d": 1,
    "mse_loss": 3,
    "mse_loss_backward": 3,
}
_EMBEDDING = {
    "embedding",
    "embedding_dense_backward",
    "embedding_backward",
    "_embedding_bag",
    "_embedding_bag_backward",
    "embedding_renorm_",
}
#: Operators that only move or create data (zero FLOPs, bytes counted).
_DATA_MOVEMENT = {
    "copy_",
    "_to_copy",
    "clone",
    "cat",
    "stack",
    "index",
    "index_select",
    "gather",
    "scatter",
    "scatter_add",
    "index_put_",
    "index_put",
    "_index_put_impl_",
    "constant_pad_nd",
    "reflection_pad2d",
    "replication_pad2d",
    "fill_",
    "zero_",
    "zeros",
    "zeros_like",
    "ones",
    "ones_like",
    "full",
    "full_like",
    "empty",
    "empty_like",
    "empty_strided",
    "new_empty_strided",
    "new_zeros",
    "new_ones",
    "new_full",
    "new_empty",
    "arange",
    "tril",
    "triu",
    "roll",
    "flip",
    "repeat",
    "masked_fill",
    "masked_fill_",
    "contiguous",
    "_unsafe_view",
    "select_backward",
    "slice_backward",
    "unfold_backward",
    "col2im",
    "im2col",
    "split_with_sizes_copy",
    "randint",
    "rand",
    "randn",
    "random_",
    "uniform_",
    "normal_",
    "bernoulli_",
    "native_dropout",
    "_fused_dropout",
    "topk",
    "sort",
    "where",
    "scalar_tensor",
    "_local_scalar_dense",
    "lift",
    "alias_copy",
    "view_copy",
    "expand_copy",
    "permute_copy",
    "transpose_copy",
    "t_copy",
}
#: Operators that only change metadata: no bytes, no FLOPs (views and aliases).
VIEWS = {
    "view",
    "_unsafe_view_",
    "reshape",
    "t",
    "transpose",
    "permute",
    "expand",
    "select",
    "slice",
    "unsqueeze",
    "squeeze",
    "as_strided",
    "detach",
    "alias",
    "unbind",
    "split",
    "split_with_sizes",
    "chunk",
    "narrow",
    "flatten",
    "unflatten",
    "view_as",
    "expand_as",
    "diagonal",
    "unfold",
    "_reshape_alias",
    "numpy_T",
    "movedim",
    "lift_fresh",
    "set_",
    "resize_",
    "_unsafe_index",
}


def classify(name: str, *, pointwise: bool = False, reduction: bool = False) -> str:
    """Names the class of an ATen operator.

    Args:
        name: The operator's overload packet name without the namespace (``addmm``, ``relu_``).
        pointwise: The operator carries PyTorch's ``pointwise`` tag.
        reduction: The operator carries PyTorch's ``reduction`` tag.
    """
    base = name.rstrip("_") if name not in _DATA_MOVEMENT else name
    if base in _MATMUL:
        return "matmul"
    if base in _CONV:
        return "conv"
    if base.startswith(_ATTENTION_PREFIXES):
        return "attention"
    if base in _NORMALIZATION:
        return "normalization"
    if base in _EMBEDDING:
        return "embedding"
    if name in _DATA_MOVEMENT or base in _DATA_MOVEMENT or name in VIEWS or base in VIEWS:
        return "data movement"
    if base in _REDUCTION or reduction:
        return "reduction"
    if pointwise or base.endswith("_backward") and base.removesuffix("_backward") in _POINTWISE_BACKWARD:
        return "elementwise"
    return "other"


#: Backward formulas of pointwise activations (``threshold_backward`` is ReLU's), one FLOP per element.
_POINTWISE_BACKWARD = {
    "threshold",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "hardtanh",
    "leaky_relu",
    "elu",
    "softplus",
    "hardswish",
    "hardsigmoid",
    "mish",
    "native_dropout",
    "relu6",
}


def convention_flops(name: str, op_class: str, *, input_elements: int, output_elements: int) -> float | None:
    """FLOPs of an operator PyTorch's counter does not cover, by devicefit's conventions.

    Returns:
        The count, ``0.0`` for data movement and views, or ``None`` when no formula applies.
    """
    base = name.rstrip("_")
    if op_class == "data movement" or name in VIEWS:
        return 0.0
    if op_class == "embedding":
        # A lookup is data movement; its backward accumulates one add per gradient element.
        return float(output_elements) if "backward" in base else 0.0
    if op_class == "normalization":
        return float(_NORMALIZATION[base] * input_elements)
    if op_class == "reduction":
        return float(_REDUCTION.get(base, 1) * input_elements)
    if op_class == "elementwise":
        return float(output_elements)
    return None
