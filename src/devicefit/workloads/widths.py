"""The parametric models at another width: one model name per size, for a model-size sweep.

Three kinds of model have a width: the zoo MLP (``mlp``, ``mlp:width=W,depth=D``), the decoder (its
presets and ``decoder:...``) and a user factory with a ``width`` parameter (``file.py:make``). Each
width is named as a model of its own (``mlp:width=512,depth=2``, ``decoder:like=gpt2,width=512,heads=8``,
``file.py:make,width=512``), so it is traced, cached and reported as any model is.
"""

from __future__ import annotations

from devicefit.errors import UsageError
from devicefit.workloads.decoder import PRESETS, parse_decoder_spec
from devicefit.workloads.libraries import is_library_model
from devicefit.workloads.user import find_user_model, is_user_model
from devicefit.workloads.zoo import DECODER_PREFIX, MLP_DEPTH, MLP_PREFIX

#: Powers of two from 128 to 4096: from a width where launches dominate every GPU step to one where
#: the products keep a datacenter GPU busy; all multiples of 128, so every preset's head width
#: (64 for GPT-2, 128 for Llama) divides them. Six traces per memory kind keep the sweep fast.
DEFAULT_WIDTHS = (128, 256, 512, 1024, 2048, 4096)

_FIX = "Sweep the zoo's mlp, a decoder (gpt2, decoder:...) or a factory with a width parameter"


def at_width(name: str, width: int) -> str:
    """The model ``name`` resized to ``width``, as a model name ``build_model`` accepts.

    A decoder keeps its head width (heads scale with the width, as GPT-2's and Llama's sizes do), its
    ratio of query to key/value heads, and an explicit MLP width's ratio to the width.

    Raises:
        UsageError: ``name`` has no width, or ``width`` does not suit it (a decoder's head width must
            divide it).
    """
    if width < 1:
        raise UsageError(f"width {width} is not positive", fix="Give widths such as --widths 128,512,2048")
    key = name.strip().lower()
    if key == "mlp" or key.startswith(MLP_PREFIX):
        depth = MLP_DEPTH
        for pair in key[len(MLP_PREFIX) :].split(",") if key.startswith(MLP_PREFIX) else ():
            option, _, text = pair.partition("=")
            if option.strip() == "depth" and text.strip().isdecimal():
                depth = int(text)
        return f"{MLP_PREFIX}width={width},depth={depth}"
    if key in PRESETS or key.startswith(DECODER_PREFIX):
        return _decoder_at_width(key, width)
    if is_user_model(name) and not is_library_model(name):
        base = name.strip().partition(",")[0]
        sized = f"{base},width={width}"
        find_user_model(sized)  # the factory must take a width
        return sized
    raise UsageError(f"{name} has no width to sweep", fix=_FIX)


def _decoder_at_width(key: str, width: int) -> str:
    spec = f"like={key}" if key in PRESETS else key[len(DECODER_PREFIX) :]
    config, _ = parse_decoder_spec(spec)
    if width % config.head_width:
        raise UsageError(
            f"decoder width {width} is not a multiple of its head width {config.head_width}",
            fix=f"Give widths that are multiples of {config.head_width}",
        )
    heads = width // config.head_width
    sizes = {"width": width, "heads": heads}
    if config.kv_heads is not None:
        sizes["kv_heads"] = max(1, heads // (config.heads // config.kv_heads))
    if config.ffn_width is not None:
        sizes["ffn_width"] = max(1, round(config.ffn_width * width / config.width))
    resized = f"{spec},{','.join(f'{k}={v}' for k, v in sizes.items())}"
    parse_decoder_spec(resized)  # checks the shape now, so that a bad width fails before any trace
    return f"{DECODER_PREFIX}{resized}"
