"""The byte alphabet of CLIP's BPE, for tokenizers built in code (tests, the sandbox)."""

from __future__ import annotations

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
"""CLIP's start and end tokens."""


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP's reversible byte -> printable character table.

    transformers 5 no longer exports it from ``tokenization_clip``; this is the
    published table (printable Latin-1 bytes map to themselves, the others to
    code points from 256 up), needed to write a CLIP ``vocab`` in code.
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))
