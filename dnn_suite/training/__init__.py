"""Model-agnostic pieces of a resumable training run, for any model plugin's ``dnn_suite_train``.

* :mod:`.checkpoint`: checkpoint files (atomic save, ``weights_only`` load, ``last.pt``, ``--resume`` paths)
* :mod:`.schedule`: linear warmup then cosine decay, and its continuation over a new length
* :mod:`.ema`: an exponential moving average of the weights
* :mod:`.data_order`: epoch permutations and per-sample seeds independent of workers and of where a run started
* :mod:`.rng`: every RNG state, saved and restored
* :mod:`.classes`: how two class lists differ (a checkpoint's and a dataset's)
* :mod:`.state`: a run's training pieces and position (``TrainingState``), and the checkpoint that holds them
* :mod:`.loop`: the loop (steps, periodic evaluation and checkpoints, Ctrl-C/SIGTERM, several processes)
* :mod:`.summary`: what the loop returns (its step log is :class:`dnn_suite.progress.TrainingProgress`)
* :mod:`.builder`: the one builder of a training run from a model plugin's ``ModelBuilder``
  (training data, model, optimizer, train step) and ``CheckpointFormat``, and ``train``, the
  ``dnn_suite_train`` hook's work

The model plugin builds the model, optimizer, train step and dataset; these modules do the rest.
"""
