"""A run's settings: each declared once (:mod:`.declared`: the ``RunConfig`` fields with their type,
check, help and flag), and what is derived from that declaration: the suite.yaml and ``--set``
layers and their resolution (:mod:`.resolve`), the command-line flags (:mod:`.flags`), the JSON
Schemas of suite.yaml and run.json (:mod:`.schema`) and the settings reference page of the docs
(:mod:`.reference`)."""
