"""Counting an embedding model's tokens: exactly with its tokenizer file (Hugging Face
`tokenizer.json`, read by the `tokenizers` library), or by rankwise's over-estimate."""

from __future__ import annotations

from ...core.chunking import TokenCounter, estimate_tokens
from ...core.errors import InvalidArgumentError


def token_counter(tokenizer_file: str | None) -> tuple[TokenCounter, bool]:
    """A token counter and whether its counts are exact."""
    if tokenizer_file is None:
        return estimate_tokens, False
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(tokenizer_file)
    except Exception as exc:  # the library raises a bare Exception for a bad file
        raise InvalidArgumentError(
            f"cannot read the tokenizer file {tokenizer_file} ({exc}): set "
            "RANKWISE_EMBED_TOKENIZER to the embedding model's tokenizer.json") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return (lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)), True
