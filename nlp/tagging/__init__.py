"""Inference of the taggers: scoring layers, the three scheme taggers, evidence and the suite.

Nothing here imports :mod:`nlp.training` (a test checks it); trained models are directories
found by :mod:`nlp.tagging.registry` and loaded by :meth:`nlp.tagging.taggers.Tagger.load`.
"""
