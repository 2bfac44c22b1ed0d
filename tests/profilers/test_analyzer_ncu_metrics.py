import pytest

from dnn_suite.errors import RunFailed
from dnn_suite_profilers.analyzers.ncu_metrics import (
    CYCLES_METRIC,
    chip_of,
    core_metric_candidates,
    core_utilization_metrics,
    missing_metrics,
    parse_query_metrics,
    profiling_metrics,
)

E = ".avg.pct_of_peak_sustained_elapsed"


@pytest.mark.parametrize(
    ("cc", "fp16", "tensor"),
    [
        ((7, 0), "sm__inst_executed_pipe_fp16", "sm__inst_executed_pipe_tensor"),
        ((7, 5), "sm__inst_executed_pipe_fp16", "sm__inst_executed_pipe_tensor"),
        ((8, 0), "sm__inst_executed_pipe_fp16", "sm__inst_executed_pipe_tensor"),
        ((8, 6), "sm__inst_executed_pipe_fma_type_fp16", "sm__inst_executed_pipe_tensor"),
        ((8, 9), "sm__inst_executed_pipe_fma_type_fp16", "sm__inst_executed_pipe_tensor"),
        ((9, 0), "sm__inst_executed_pipe_fma_type_fp16", "sm__pipe_tensor_cycles_active"),
        ((10, 0), "sm__inst_executed_pipe_fma_type_fp16", "sm__pipe_tensor_cycles_active"),
        ((12, 0), "sm__inst_executed_pipe_fma_type_fp16", "sm__pipe_tensor_cycles_active"),
    ],
)
def test_core_utilization_metrics_per_architecture(cc, fp16, tensor):
    assert core_utilization_metrics(cc) == {
        "fma": "sm__inst_executed_pipe_fma" + E,
        "fp16": fp16 + E,
        "tensor": tensor + E,
        "sfu": "sm__inst_executed_pipe_xu" + E,
    }


def test_pre_volta_is_refused():
    with pytest.raises(RunFailed, match="needs compute capability 7.0 .* this GPU has 6.1"):
        core_utilization_metrics((6, 1))


def test_profiling_metrics():
    assert profiling_metrics((7, 0)) == [
        "sm__inst_executed_pipe_fma" + E,
        "sm__inst_executed_pipe_fp16" + E,
        "sm__inst_executed_pipe_tensor" + E,
        "sm__inst_executed_pipe_xu" + E,
        CYCLES_METRIC,
    ]
    assert profiling_metrics((9, 0), extras=True) == [
        "sm__inst_executed_pipe_fma" + E,
        "sm__inst_executed_pipe_fma_type_fp16" + E,
        "sm__pipe_tensor_cycles_active" + E,
        "sm__inst_executed_pipe_xu" + E,
        CYCLES_METRIC,
        "sm__throughput" + E,
        "sm__warps_active.avg.pct_of_peak_sustained_active",
        "dram__throughput" + E,
        "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active",
        "sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active",
        "gpu__time_duration.sum",
    ]


# The architecture row a capability falls in: its nearest listed capability at or below (8.7 is
# Orin, an Ampere like GA102), and the oldest chip for anything older.
@pytest.mark.parametrize("compute_capability, chip", [((9, 0), "gh100"), ((8, 7), "ga102"), ((7, 2), "gv100"),
                                                       ((8, 0), "ga100"), ((7, 5), "tu102"), ((12, 1), "gb202"),
                                                       ((6, 1), "gv100")])
def test_chip_of_a_compute_capability(compute_capability, chip):
    assert chip_of(compute_capability) == chip


def test_candidates_cover_all_architectures():
    candidates = core_metric_candidates()
    assert candidates["fp16"] == ("sm__inst_executed_pipe_fp16" + E, "sm__inst_executed_pipe_fma_type_fp16" + E)
    assert candidates["fma"] == ("sm__inst_executed_pipe_fma" + E,)


QUERY_OUTPUT = """\
Device NVIDIA H200 (GH100)
------------------------------------------------- ----------- ----------------------------------------------
Metric Name                                       Metric Type Metric Description
------------------------------------------------- ----------- ----------------------------------------------
gpc__cycles_elapsed                               Counter     # of cycles elapsed on GPC
sm__inst_executed_pipe_fma                        Counter     # of warp instructions executed by fma pipe
sm__inst_executed_pipe_fma_type_fp16              Counter     # of warp instructions executed by fma pipe
sm__inst_executed_pipe_xu                         Counter     # of warp instructions executed by xu pipe
sm__pipe_tensor_cycles_active                     Counter     # of cycles where tensor pipe was active
"""


def test_query_metrics_parser_and_check():
    available = parse_query_metrics(QUERY_OUTPUT)
    assert "sm__pipe_tensor_cycles_active" in available and "Metric" not in available
    assert missing_metrics(profiling_metrics((9, 0)), available) == []
    assert missing_metrics(profiling_metrics((8, 0)), available) == [
        "sm__inst_executed_pipe_fp16" + E,
        "sm__inst_executed_pipe_tensor" + E,
    ]
