"""The run machinery: a benchmark run's protocol and life (:mod:`.runner`, :mod:`.timing`, the run
directory and its records: :mod:`.output_dir`, :mod:`.runstate`, :mod:`.statistics`,
:mod:`.summary_table`, the machine's load and what it does to the numbers:
:mod:`.machine_load`, :mod:`.measurement_quality`), the commands that run a model besides it
(``train`` and ``eval``: :mod:`.train_eval`, :mod:`.resume`, :mod:`.checkpoint_settings`),
sweeps and the jobs of an executor (:mod:`.sweep`, :mod:`.jobs`), and what a run sets up and
records of the machine (:mod:`.backends`, :mod:`.allocator`, :mod:`.loader_settings`,
:mod:`.environment`)."""
