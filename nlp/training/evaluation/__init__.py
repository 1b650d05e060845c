"""Evaluation that predicts the outside world: in-source k-fold, held-out sources, component
ablation and the hand-labelled gold set.

Every figure comes from a model that never saw the scored texts, and every choice the trainer
makes from data (stacker weights, per-label thresholds, the top-label floor and the cap on
labels) is made again inside each split, on held-out predictions of its training part only:

* **in-source k-fold** (Action Lines on the WSIS Prizes 2021 projects, SDGs on
  qu-sdg-sentences), nested: fold *k* is scored by components trained on everything else, and
  its stacker and decision rule are fitted on out-of-fold scores of the other *k-1* folds of
  the same source. Other sources always train and never calibrate.
* **held-out sources**: each SDG source (and, for Action Lines, the WSIS Prizes projects) is
  scored by a model trained on the other sources and calibrated leave-one-source-out over
  them, exactly as ``fit_layer(..., groups=sources)`` does in the trainer.
* **ablation**: the held-out splits again, with one scoring component removed at a time.
* **gold set**: the shipped taggers on hand-labelled passages of the founding documents.

Why this package does not call :func:`~nlp.training.fit.fit_layer` once per system: the
components' logits do not depend on which other components are stacked, so each supervised
model (head, kNN bank, TF-IDF head) is fitted once per distinct training set, and every system
and ablation is a different stack over the same logits (:meth:`.systems.Stack.fit` stacks them
with :func:`~nlp.training.fit.fit_stack`, the end of ``fit_layer``; a test checks both give the
same scores). Nested leave-one-source-out inner folds "all but sources S and T" are shared by
the outer splits S and T. That cuts a full run from many hours to tens of minutes on two cores.

The modules, in the order a run uses them: :mod:`.config` (what to evaluate),
:mod:`.splits` (a scheme's embedded texts and its train/test splits), :mod:`.logits` (component
logits per split, fitted once and cached), :mod:`.systems` (stacks, systems, ablation and the
per-scheme evaluations), :mod:`.metrics` (figures) and :mod:`.run` (the gold set and a whole
``wsis evaluate`` run).
"""
