"""Model-agnostic pieces of a resumable training run, for any model plugin's ``dnn_suite_train``.

* :mod:`.checkpoint`: checkpoint files (atomic save, ``weights_only`` load, ``last.pt``, ``--resume`` paths)
* :mod:`.schedule`: linear warmup then cosine decay, and its continuation over a new length
* :mod:`.ema`: an exponential moving average of the weights
* :mod:`.data_order`: epoch permutations and per-sample seeds independent of workers and of where a run started
* :mod:`.rng`: every RNG state, saved and restored
* :mod:`.state`: a run's training pieces and position, and the checkpoint that holds them
* :mod:`.loop`: the loop (steps, periodic evaluation and checkpoints, Ctrl-C/SIGTERM, several processes)
* :mod:`.progress`, :mod:`.summary`: what the loop prints and returns

The model plugin builds the model, optimizer, train step and dataset; these modules do the rest.
"""
