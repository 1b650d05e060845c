"""WSIS Lens: search, compare and tag WSIS+20 review documents.

Heavy dependencies (torch, sentence-transformers, faiss, spaCy) are imported lazily
inside the modules that need them, so ``import nlp`` and ``wsis --help`` stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
