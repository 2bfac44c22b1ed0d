"""torchvision's models as dnn-suite benchmarks: one model family per module (classification.py),
the pieces they share in common.py, the hooks the core calls in plugin.py."""
