"""Reference text encoders built from ``torch.nn`` alone: a word-level LSTM language model and BERT."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LSTMLanguageModel(nn.Module):
    """Word-level LSTM language model (Zaremba et al. 2014, "Recurrent Neural Network Regularization").

    The "medium" configuration: 10,000 words, 650-wide embedding, two LSTM layers of 650, dropout 0.5,
    untied softmax layer. ``nn.LSTM`` keeps two bias vectors per gate (input and hidden), so each layer
    has 4 x 650 more parameters than the paper's single-bias formulation.

    Args:
        vocab_size: Words in the vocabulary.
        width: Embedding and hidden size.
        num_layers: Stacked LSTM layers.
        dropout: Dropout on the embedding, between layers and before the softmax layer.
    """

    def __init__(self, vocab_size: int = 10_000, width: int = 650, num_layers: int = 2, dropout: float = 0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, width)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(width, width, num_layers, batch_first=True, dropout=dropout)
        self.decoder = nn.Linear(width, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Maps token ids (N, T) to next-word logits (N, T, vocab)."""
        hidden, _ = self.lstm(self.dropout(self.embedding(tokens)))
        return self.decoder(self.dropout(hidden))


class BertLayer(nn.Module):
    """Post-LayerNorm encoder layer of BERT: self-attention, then a GELU feed-forward, each residual."""

    def __init__(self, width: int, num_heads: int, ffn_width: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        # Fused query/key/value: the same weights as HuggingFace's three separate Linear layers.
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_output = nn.Linear(width, width)
        self.attention_norm = nn.LayerNorm(width, eps=eps)
        self.intermediate = nn.Linear(width, ffn_width)
        self.output = nn.Linear(ffn_width, width)
        self.output_norm = nn.LayerNorm(width, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the layer to hidden states (N, T, width)."""
        n, t, width = x.shape
        qkv = self.qkv(x).view(n, t, 3, self.num_heads, width // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        p = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=p).transpose(1, 2).reshape(n, t, width)
        x = self.attention_norm(x + F.dropout(self.attention_output(attended), p, self.training))
        hidden = self.output(F.gelu(self.intermediate(x)))
        return self.output_norm(x + F.dropout(hidden, p, self.training))


class BertModel(nn.Module):
    """BERT encoder with pooler (Devlin et al. 2019), plus masked-LM logits tied to the word embeddings.

    Parameters are exactly those of HuggingFace ``BertModel``: 109,482,240 for BERT-base. The logits are
    ``hidden @ word_embeddings.weight.T`` with no extra weight: the standard MLM head's dense transform,
    LayerNorm and output bias are left out, so training updates every parameter except the pooler's, which
    only the next-sentence task would train.

    Args:
        vocab_size: WordPiece vocabulary.
        width: Hidden size.
        depth: Encoder layers.
        num_heads: Attention heads.
        ffn_width: Hidden size of the feed-forward layers.
        max_positions: Longest sequence the learned position table covers.
        num_token_types: Segment ids (sentence A / B).
        dropout: Dropout on embeddings, attention probabilities and residual branches.
        eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        vocab_size: int = 30_522,
        width: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        ffn_width: int = 3072,
        max_positions: int = 512,
        num_token_types: int = 2,
        dropout: float = 0.1,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, width)
        self.position_embeddings = nn.Embedding(max_positions, width)
        self.token_type_embeddings = nn.Embedding(num_token_types, width)
        self.embedding_norm = nn.LayerNorm(width, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            *(BertLayer(width, num_heads, ffn_width, dropout, eps) for _ in range(depth))
        )
        self.pooler = nn.Linear(width, width)
        # BERT's initializer_range; torch's N(0, 1) default would make the tied logits ~28 wide.
        for table in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            nn.init.normal_(table.weight, std=0.02)

    def forward(self, tokens: torch.Tensor, token_types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodes token ids and segment ids (N, T).

        Returns:
            Masked-LM logits (N, T, vocab) and the pooled first-token representation (N, width).
        """
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        embedded = self.word_embeddings(tokens) + self.position_embeddings(positions)
        hidden = self.layers(
            self.dropout(self.embedding_norm(embedded + self.token_type_embeddings(token_types)))
        )
        pooled = torch.tanh(self.pooler(hidden[:, 0]))
        return F.linear(hidden, self.word_embeddings.weight), pooled
