"""One trainer per scheme, each ``train_<scheme>(cache, taxonomy, data_dir, feedback,
zero_shot) -> TrainResult``: :mod:`.action_lines` and :mod:`.sdgs` (labelled data when the data
directory has it, zero-shot otherwise), :mod:`.gdc` (zero-shot, self-tested on the adopted
text), with what they share in :mod:`.common`. :mod:`nlp.training.trainers` picks, tunes and
saves them.
"""
