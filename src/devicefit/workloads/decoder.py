"""One configurable decoder-only transformer covering GPT-2 and Llama-2 shapes, and its name syntax."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from devicefit.errors import UsageError

NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu")
POSITIONALS = ("learned", "rope")


@dataclass(frozen=True, slots=True, kw_only=True)
class DecoderConfig:
    """The shape of a decoder-only transformer; defaults are GPT-2 small (Radford et al. 2019).

    Attributes:
        width: Hidden size (d_model).
        depth: Transformer blocks.
        heads: Query heads; ``width`` must be a multiple.
        kv_heads: Key/value heads for grouped-query attention; ``None`` means ``heads`` (plain MHA).
        ffn_width: Hidden size of the MLP; ``None`` means 4 x width for GELU, and Llama's rule for SwiGLU
            (8/3 x width rounded up to a multiple of 256: 11,008 for width 4,096).
        vocab_size: Token vocabulary.
        max_positions: Longest sequence: rows of the learned position table or of the RoPE tables.
        norm: ``layernorm`` (GPT-2) or ``rmsnorm`` (Llama).
        mlp: ``gelu`` (two matrices, tanh-approximate GELU as GPT-2) or ``swiglu`` (three, Llama).
        positional: ``learned`` absolute positions (GPT-2) or rotary embeddings ``rope`` (Llama).
        tie_embeddings: Whether the LM head reuses the token embedding matrix.
        bias: Whether linear layers and LayerNorms have biases.
        norm_eps: Normalization epsilon.
        dropout: Dropout on embeddings, attention probabilities and residual branches (0.1 in GPT-2).
        rope_theta: RoPE base frequency.
    """

    width: int = 768
    depth: int = 12
    heads: int = 12
    kv_heads: int | None = None
    ffn_width: int | None = None
    vocab_size: int = 50_257
    max_positions: int = 1024
    norm: str = "layernorm"
    mlp: str = "gelu"
    positional: str = "learned"
    tie_embeddings: bool = True
    bias: bool = True
    norm_eps: float = 1e-5
    dropout: float = 0.1
    rope_theta: float = 10_000.0

    def __post_init__(self) -> None:
        for name in ("width", "depth", "heads", "vocab_size", "max_positions"):
            if getattr(self, name) < 1:
                raise UsageError(f"decoder {name} must be at least 1, got {getattr(self, name)}")
        if self.width % self.heads:
            raise UsageError(f"decoder width {self.width} is not a multiple of heads {self.heads}")
        if self.kv_heads is not None and (self.kv_heads < 1 or self.heads % self.kv_heads):
            raise UsageError(f"decoder heads {self.heads} is not a multiple of kv_heads {self.kv_heads}")
        for name, allowed in (("norm", NORMS), ("mlp", MLPS), ("positional", POSITIONALS)):
            if getattr(self, name) not in allowed:
                raise UsageError(
                    f"decoder {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.positional == "rope" and self.head_width % 2:
            raise UsageError(f"rotary embeddings need an even head width, got {self.head_width}")

    @property
    def head_width(self) -> int:
        """Features per attention head."""
        return self.width // self.heads

    @property
    def num_kv_heads(self) -> int:
        """Key/value heads actually used."""
        return self.kv_heads or self.heads

    @property
    def mlp_width(self) -> int:
        """Hidden size of the MLP, with the default rule applied."""
        if self.ffn_width is not None:
            return self.ffn_width
        if self.mlp == "gelu":
            return 4 * self.width
        # Llama's FeedForward: int(2/3 of 4 x width), rounded up to multiple_of = 256.
        return -(-(8 * self.width // 3) // 256) * 256


#: Named shapes. GPT-2 (Radford et al. 2019; HuggingFace gpt2 configs) and Llama-2-shaped decoders
#: (Touvron et al. 2023, Table 1 and the released params.json: RMSNorm eps 1e-5, 4,096 positions).
_LLAMA = DecoderConfig(
    vocab_size=32_000,
    max_positions=4096,
    norm="rmsnorm",
    mlp="swiglu",
    positional="rope",
    tie_embeddings=False,
    bias=False,
    dropout=0.0,
)
PRESETS: dict[str, DecoderConfig] = {
    "gpt2": DecoderConfig(),
    "gpt2-medium": DecoderConfig(width=1024, depth=24, heads=16),
    "gpt2-large": DecoderConfig(width=1280, depth=36, heads=20),
    "gpt2-xl": DecoderConfig(width=1600, depth=48, heads=25),
    "decoder-7b": dataclasses.replace(_LLAMA, width=4096, depth=32, heads=32),
    "decoder-13b": dataclasses.replace(_LLAMA, width=5120, depth=40, heads=40),
    # Llama-2-70B sets ffn_dim_multiplier 1.3, hence 28,672 rather than the 8/3 rule's 22,016.
    "decoder-70b": dataclasses.replace(_LLAMA, width=8192, depth=80, heads=64, kv_heads=8, ffn_width=28_672),
}


def _norm(config: DecoderConfig) -> nn.Module:
    """The block's normalization layer."""
    if config.norm == "rmsnorm":
        return nn.RMSNorm(config.width, eps=config.norm_eps)
    return nn.LayerNorm(config.width, eps=config.norm_eps, bias=config.bias)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Applies rotary embeddings to (N, heads, T, head_width) in the half-split layout of HF Llama."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class DecoderBlock(nn.Module):
    """Pre-norm block: causal self-attention then an MLP, each added back to the residual stream."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        kv_width = config.num_kv_heads * config.head_width
        self.attention_norm = _norm(config)
        # Queries, keys and values in one matrix (GPT-2's c_attn); the same parameters as three.
        self.qkv = nn.Linear(config.width, config.width + 2 * kv_width, bias=config.bias)
        self.attention_output = nn.Linear(config.width, config.width, bias=config.bias)
        self.mlp_norm = _norm(config)
        # SwiGLU's gate and up projections are fused the same way.
        num_up = 2 * config.mlp_width if config.mlp == "swiglu" else config.mlp_width
        self.up = nn.Linear(config.width, num_up, bias=config.bias)
        self.down = nn.Linear(config.mlp_width, config.width, bias=config.bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Applies the block to hidden states (N, T, width), with RoPE (cos, sin) tables (T, head_width)."""
        config = self.config
        n, t, _ = x.shape
        kv_width = config.num_kv_heads * config.head_width
        q, k, v = self.qkv(self.attention_norm(x)).split((config.width, kv_width, kv_width), dim=-1)
        q = q.view(n, t, config.heads, config.head_width).transpose(1, 2)
        k = k.view(n, t, config.num_kv_heads, config.head_width).transpose(1, 2)
        v = v.view(n, t, config.num_kv_heads, config.head_width).transpose(1, 2)
        if rope is not None:
            q, k = _rotate(q, *rope), _rotate(k, *rope)
        if config.num_kv_heads != config.heads:
            # Grouped-query attention: each key/value head serves heads / kv_heads query heads (HF repeat_kv).
            repeats = config.heads // config.num_kv_heads
            k = k[:, :, None].expand(-1, -1, repeats, -1, -1).reshape(n, config.heads, t, config.head_width)
            v = v[:, :, None].expand(-1, -1, repeats, -1, -1).reshape(n, config.heads, t, config.head_width)
        p = config.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        attended = attended.transpose(1, 2).reshape(n, t, config.width)
        x = x + F.dropout(self.attention_output(attended), p, self.training)
        hidden = self.up(self.mlp_norm(x))
        if config.mlp == "swiglu":
            gate, up = hidden.chunk(2, dim=-1)
            hidden = F.silu(gate) * up
        else:
            hidden = F.gelu(hidden, approximate="tanh")
        return x + F.dropout(self.down(hidden), p, self.training)


class Decoder(nn.Module):
    """A decoder-only language model: token ids (N, T) to next-token logits (N, T, vocab)."""

    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        # GPT-2's initializer_range; with tied weights torch's N(0, 1) would make the logits ~28 wide.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.position_embedding: nn.Embedding | None = None
        if config.positional == "learned":
            self.position_embedding = nn.Embedding(config.max_positions, config.width)
            nn.init.normal_(self.position_embedding.weight, std=0.02)
        else:
            half = torch.arange(0, config.head_width, 2, dtype=torch.float32) / config.head_width
            angles = torch.outer(
                torch.arange(config.max_positions, dtype=torch.float32), config.rope_theta**-half
            )
            angles = torch.cat((angles, angles), dim=-1)
            self.register_buffer("rope_cos", angles.cos(), persistent=False)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.depth))
        self.norm = _norm(config)
        self.lm_head = (
            None if config.tie_embeddings else nn.Linear(config.width, config.vocab_size, bias=False)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Maps token ids (N, T), T at most ``max_positions``, to logits (N, T, vocab)."""
        t = tokens.shape[1]
        x = self.token_embedding(tokens)
        rope = None
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(t, device=tokens.device))
        else:
            rope = (self.rope_cos[:t], self.rope_sin[:t])
        x = F.dropout(x, self.config.dropout, self.training)
        for block in self.blocks:
            x = block(x, rope)
        head = self.token_embedding if self.lm_head is None else self.lm_head
        return F.linear(self.norm(x), head.weight)


def parse_decoder_spec(spec: str) -> tuple[DecoderConfig, int | None]:
    """Reads the text after ``decoder:`` in a model name.

    The text is comma-separated ``key=value`` pairs. Keys are the ``DecoderConfig`` fields, plus ``like``
    to start from a preset instead of GPT-2 small and ``seq`` for the default sequence length:
    ``decoder:width=2048,depth=24,heads=16,seq=512`` or ``decoder:like=decoder-7b,depth=4``.

    Args:
        spec: The pairs, without the ``decoder:`` prefix.

    Returns:
        The configuration and the requested sequence length in tokens (``None`` if not given).

    Raises:
        UsageError: A pair is malformed, a key unknown, a value of the wrong type or the shape invalid.
    """
    fields = {field.name: field for field in dataclasses.fields(DecoderConfig)}
    base = PRESETS["gpt2"]
    values: dict[str, Any] = {}
    sequence_length = None
    for pair in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, text = (part.strip() for part in pair.partition("="))
        key = key.lower().replace("-", "_")
        if not sep or not text:
            raise UsageError(
                f"decoder option {pair!r} is not key=value", fix="Write e.g. decoder:width=1024,depth=8"
            )
        if key == "like":
            if text not in PRESETS:
                raise UsageError(f"unknown decoder preset {text!r}", fix=f"Use one of {', '.join(PRESETS)}")
            base = PRESETS[text]
        elif key == "seq":
            sequence_length = _parse_value(key, text, int)
            if sequence_length < 1:
                raise UsageError(
                    f"decoder seq must be at least 1, got {sequence_length}", fix="Pass seq=1 or more"
                )
        elif key in fields:
            # Annotations are strings here (postponed evaluation): "int", "int | None", "bool"...
            values[key] = _parse_value(key, text, _TYPES[str(fields[key].type)])
        else:
            known = ", ".join(["like", "seq", *fields])
            raise UsageError(f"unknown decoder option {key!r}", fix=f"Known options: {known}")
    return dataclasses.replace(base, **values), sequence_length


#: The Python type of each ``DecoderConfig`` annotation, to parse option values.
_TYPES: dict[str, type] = {"int": int, "int | None": int, "float": float, "str": str, "bool": bool}


def _parse_value(key: str, text: str, kind: type) -> Any:
    """Converts one option value to ``kind``, naming the option when it cannot."""
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise UsageError(f"decoder option {key}={text!r} is not a valid {kind.__name__}", fix="Fix the value")
