"""dnn-suite: training benchmarks for deep neural networks."""
__version__ = "0.1.0"
