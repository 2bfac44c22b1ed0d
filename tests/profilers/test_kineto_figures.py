"""The figures of `dnn-suite analyze` on hand-made kineto traces, each worked out by hand from
the definitions in the docstrings of dnn_suite_profilers.analyzers.gpu_time.{hta,steps,
gpu_metrics,kernels}. Times in the comments are microseconds (the trace's unit); the analysis
reports nanoseconds (1 us = 1000 ns)."""

from __future__ import annotations

import pytest

from kineto_traces import DATA_LOADER, Trace, analyze, value

US = 1000


def per_device(analysis, device: int = 0) -> dict:
    return next(row for row in analysis.tables["per_device"] if row["device"] == device)


# -- 1. HTA temporal breakdown ---------------------------------------------------------------


def test_temporal_breakdown_union_of_streams_compute_wins_over_copies(tmp_path):
    t = Trace()
    t.kernel("gemm_a", 1000, 100, stream=7)             # [0, 100)
    t.kernel("relu_b", 1050, 100, stream=8)             # [50, 150): overlaps gemm_a, the union counts once
    t.memcpy(1140, 60, stream=9)                        # [140, 200): [140, 150) under a kernel (compute wins)
    t.kernel("ncclKernel_AllReduce_RING_LL_Sum_float", 1300, 50, stream=10)  # [300, 350): alone, non-compute
    t.kernel("gemm_c", 1400, 100, stream=7)             # [400, 500); idle [200, 300) and [350, 400)
    analysis = analyze(t, tmp_path)
    row = per_device(analysis)
    assert row["span_ns"] == 500 * US                   # first start 0 to last end 500
    assert value(analysis, "gpu0.compute_pct") == pytest.approx(100 * (150 + 100) / 500)  # [0,150) + [400,500)
    assert value(analysis, "gpu0.idle_pct") == pytest.approx(100 * (100 + 50) / 500)
    # copy alone [150, 200) + nccl alone [300, 350)
    assert value(analysis, "gpu0.non_compute_pct") == pytest.approx(100 * (50 + 50) / 500)


def _two_steps(rename_second: bool = False) -> Trace:
    t = Trace()
    t.step(1, 1000, 1000)                               # [0, 1000)
    t.step(2, 2000, 1000) if not rename_second else t.annotation("not_a_step", 2000, 1000)
    t.kernel("gemm_a", 1020, 100, launch=(1010, 5))     # launched in step 1: [20, 120)
    t.kernel("gemm_b", 2020, 200, launch=(2010, 5))     # launched after the last step began: [1020, 1220)
    return t


def test_temporal_breakdown_leaves_out_what_the_last_step_launched(tmp_path):
    analysis = analyze(_two_steps(), tmp_path)
    row = per_device(analysis)
    assert row["span_ns"] == 100 * US                   # gemm_a only
    assert value(analysis, "gpu0.compute_pct") == pytest.approx(100.0)
    assert value(analysis, "gpu0.idle_pct") == pytest.approx(0.0)
    # with a single step the trace keeps everything: span [20, 1220), busy 100 + 200
    analysis = analyze(_two_steps(rename_second=True), tmp_path, "one_step.json")
    assert per_device(analysis)["span_ns"] == 1200 * US
    assert value(analysis, "gpu0.idle_pct") == pytest.approx(100 * (1200 - 300) / 1200)


# -- 2. HTA idle-time breakdown --------------------------------------------------------------


def test_idle_breakdown_host_wait_kernel_wait_other(tmp_path):
    t = Trace()
    t.kernel("k_a", 100, 10, launch=(90, 5))    # [100, 110)
    t.kernel("k_b", 130, 10, launch=(120, 5))   # gap 20 after k_a; launched at 120 > 110: host wait 20 (though < 30)
    t.kernel("k_c", 150, 10, launch=(130, 5))   # gap 10, launched at 130 < 140, 10 < 30: kernel wait 10
    t.kernel("k_d", 210, 10, launch=(140, 5))   # gap 50, launched at 140 < 160, 50 >= 30: other 50
    analysis = analyze(t, tmp_path)
    idle = 20 + 10 + 50
    assert value(analysis, "gpu0.idle_host_wait_share") == pytest.approx(20 / idle)
    assert value(analysis, "gpu0.idle_kernel_wait_share") == pytest.approx(10 / idle)
    assert value(analysis, "gpu0.idle_other_share") == pytest.approx(50 / idle)
    assert analysis.tables["idle_by_stream"] == [
        {"device": 0, "stream": 7, "idle_ns": idle * US, "host_wait_ns": 20 * US, "kernel_wait_ns": 10 * US,
         "other_ns": 50 * US, "host_wait_share": 20 / idle}]
    assert value(analysis, "gpu0.idle_pct") == pytest.approx(100 * idle / (220 - 100))  # span [100, 220)


# -- 3. TensorBoard step breakdown and phases ------------------------------------------------


def _stepped() -> Trace:
    """Step 1 [0, 1000) takes every category; step 2 [1000, 1400) launches nothing; step 3
    [1400, 1600) launches a kernel that ends at 1800 (moved to the device); step 4 [1600, 1700)
    launches nothing and is the last: dropped."""
    t = Trace()
    t.step(1, 0, 1000)
    t.cpu_op(DATA_LOADER, 0, 200)                                      # data loader [0, 200)
    t.annotation("dnn_suite.forward", 200, 200)
    t.kernel("gemm", 350, 200, launch=(250, 50), op=("aten::mm", 200, 200))  # op [200,400), call [250,300), k [350,550)
    t.annotation("dnn_suite.backward", 400, 30)
    t.memcpy(500, 100, launch=(400, 20))                               # call [400, 420), copy [500, 600)
    t.memset(580, 70, launch=(420, 10))                                # call [420, 430), set [580, 650)
    t.step(2, 1000, 400)
    t.cpu_op("aten::add", 1000, 100)                                   # CPU only
    t.step(3, 1400, 200)
    t.kernel("relu", 1500, 300, launch=(1410, 10))                     # ends at 1800, after the step's host end
    t.step(4, 1600, 100)
    return t


def test_step_breakdown_category_priority_device_steps_and_trailing_drop(tmp_path):
    analysis = analyze(_stepped(), tmp_path)
    rows = {row["step"]: row for row in analysis.tables["step_breakdown"]}
    assert list(rows) == ["ProfilerStep#1", "ProfilerStep#2", "ProfilerStep#3"]  # #4 launched nothing: dropped
    assert value(analysis, "step.count") == 3 and "1 cut short" in analysis.metrics["step.count"].description
    first = rows["ProfilerStep#1"]
    assert {k: v // US for k, v in first.items() if k.endswith("_ns")} == {
        "kernel_ns": 200,          # [350, 550)
        "memcpy_ns": 50,           # [500, 600) less the kernel's [500, 550)
        "memset_ns": 50,           # [580, 650) less the copy's [580, 600)
        "communication_ns": 0,
        "runtime_ns": 50,          # [250, 300); [400, 430) is under the kernel
        "dataloader_ns": 200,      # [0, 200)
        "cpu_exec_ns": 100,        # aten::mm [200, 400) less the call [250, 300) and the kernel [350, 400)
        "other_ns": 350,           # [650, 1000)
        "total_ns": 1000,
    }
    second = rows["ProfilerStep#2"]                                    # no kernels: the host range as is
    assert (second["total_ns"], second["cpu_exec_ns"], second["other_ns"], second["kernel_ns"]) == (
        400 * US, 100 * US, 300 * US, 0)
    third = rows["ProfilerStep#3"]                                     # moved to the device: [1400, 1800)
    assert (third["total_ns"], third["kernel_ns"], third["runtime_ns"], third["other_ns"]) == (
        400 * US, 300 * US, 10 * US, 90 * US)
    assert value(analysis, "step.time") == pytest.approx((1000 + 400 + 400) / 3 * US)
    total = 1000 + 400 + 400
    assert value(analysis, "step.kernel_share") == pytest.approx((200 + 300) / total)
    assert value(analysis, "step.dataloader_share") == pytest.approx(200 / total)
    assert value(analysis, "step.cpu_exec_share") == pytest.approx((100 + 100) / total)
    assert value(analysis, "step.runtime_share") == pytest.approx((50 + 10) / total)
    assert value(analysis, "step.other_share") == pytest.approx((350 + 300 + 90) / total)


def test_phases_host_and_gpu_time_per_step(tmp_path):
    analysis = analyze(_stepped(), tmp_path)
    phases = {row["phase"]: row for row in analysis.tables["phases"]}
    step_time = (1000 + 400 + 400) / 3
    forward, backward = phases["forward"], phases["backward"]
    assert forward["host_ns_per_step"] == pytest.approx(200 * US / 3)       # [200, 400) over 3 steps
    assert forward["host_share"] == pytest.approx(200 / 3 / step_time)
    assert forward["gpu_busy_ns_per_step"] == pytest.approx(200 * US / 3)   # the gemm it launched
    assert backward["host_ns_per_step"] == pytest.approx(30 * US / 3)
    assert backward["gpu_busy_ns_per_step"] == pytest.approx(150 * US / 3)  # copy [500,600) U set [580,650)
    assert value(analysis, "phase.forward.host_share") == pytest.approx(200 / 3 / step_time)


def test_last_step_launching_under_80_percent_of_the_one_before_is_dropped(tmp_path):
    def trace(last_kernels: int) -> Trace:
        t = Trace()
        t.step(1, 0, 100)
        for i in range(10):
            t.kernel(f"k{i}", 10 * i + 5, 5, launch=(10 * i, 2))
        t.step(2, 100, 100)
        for i in range(last_kernels):
            t.kernel(f"k{i}", 100 + 10 * i + 5, 5, launch=(100 + 10 * i, 2))
        return t

    cut = analyze(trace(7), tmp_path, "cut.json")                          # 7 < 0.8 * 10
    assert value(cut, "step.count") == 1
    assert "1 cut short" in cut.metrics["step.count"].description
    whole = analyze(trace(8), tmp_path, "whole.json")                      # 8 = 0.8 * 10: kept
    assert value(whole, "step.count") == 2


# -- 4. GPU utilization, SM efficiency, occupancy --------------------------------------------


def test_utilization_sm_efficiency_and_occupancy_of_two_concurrent_kernels(tmp_path):
    t = Trace()
    t.step(1, 0, 100)                                                          # span [0, 100)
    t.kernel("k_a", 10, 40, stream=7, blocks=0.5, occupancy=40, launch=(1, 2))  # [10, 50)
    t.kernel("k_b", 30, 40, stream=8, blocks=0.8, occupancy=60, launch=(3, 2))  # [30, 70)
    analysis = analyze(t, tmp_path)
    assert value(analysis, "gpu0.utilization_pct") == pytest.approx(100 * (70 - 10) / 100)
    # [10,30) 0.5; [30,50) min(1, 0.5 + 0.8) = 1; [50,70) 0.8
    assert value(analysis, "gpu0.sm_efficiency_pct") == pytest.approx(100 * (20 * 0.5 + 20 * 1 + 20 * 0.8) / 100)
    # time-weighted: 40 us at 40%, 40 us at 60%
    assert value(analysis, "gpu0.achieved_occupancy_pct") == pytest.approx((40 * 40 + 40 * 60) / 80)


# -- 5. Kernels: categories, tensor cores, top kernels, launches, syncs ----------------------


def _convolutions() -> Trace:
    t = Trace()
    t.step(1, 0, 1000)
    t.kernel("sm80_xmma_fprop_implicit_gemm_f16f16_f16f16", 30, 100, launch=(10, 10), op=("aten::conv2d", 0, 100))
    t.kernel("implicit_convolve_sgemm", 140, 300, launch=(110, 10), op=("aten::conv2d", 100, 100))
    t.kernel("vectorized_elementwise_kernel<relu>", 450, 100, launch=(210, 10), op=("aten::relu", 200, 50))
    t.memcpy(600, 100, launch=(250, 10))
    t.runtime("cudaStreamSynchronize", 560, 40)       # inside the step
    t.runtime("cudaStreamSynchronize", 1100, 10)      # after it: not counted
    return t


def test_kernel_categories_tensor_cores_and_top_kernels(tmp_path):
    analysis = analyze(_convolutions(), tmp_path)
    categories = {row["category"]: row for row in analysis.tables["kernel_categories"]}
    all_time = 100 + 300 + 100 + 100                  # kernels and the copy
    assert categories["matmul_conv"]["time_ns"] == 400 * US
    assert categories["matmul_conv"]["share"] == pytest.approx(400 / all_time)
    assert categories["elementwise"]["share"] == pytest.approx(100 / all_time)
    assert categories["memory"]["share"] == pytest.approx(100 / all_time)   # the memcpy
    kernel_time = 100 + 300 + 100
    assert value(analysis, "kernels.tensor_core_share") == pytest.approx(100 / kernel_time)  # sm80_xmma only
    assert value(analysis, "kernels.tensor_core_eligible_share") == pytest.approx(400 / kernel_time)  # conv2d's
    assert value(analysis, "kernels.eligible_on_tensor_cores_share") == pytest.approx(100 / 400)
    assert value(analysis, "kernels.median_duration") == pytest.approx(100 * US)
    top = analysis.tables["top_kernels"]
    assert [(row["name"], row["operator"], row["time_ns"]) for row in top] == [
        ("implicit_convolve_sgemm", "aten::conv2d", 300 * US),
        ("sm80_xmma_fprop_implicit_gemm_f16f16_f16f16", "aten::conv2d", 100 * US),
        ("vectorized_elementwise_kernel<relu>", "aten::relu", 100 * US)]
    assert top[0]["share"] == pytest.approx(300 / kernel_time)


def test_launch_delay_and_synchronizations_per_step(tmp_path):
    analysis = analyze(_convolutions(), tmp_path)
    delays = [30 - 20, 140 - 120, 450 - 220]          # kernel start - end of its launch call
    assert value(analysis, "launch.launch_delay_mean") == pytest.approx(sum(delays) / 3 * US)
    assert value(analysis, "launch.launch_delay_median") == pytest.approx(20 * US)
    assert value(analysis, "launch.launch_call_mean") == pytest.approx(10 * US)
    assert value(analysis, "sync.calls_per_step") == 1
    assert value(analysis, "sync.time_per_step") == pytest.approx(40 * US)


def test_cpu_run_operator_self_time_by_category(tmp_path):
    """Self time = duration minus the operators nested directly inside, per thread."""
    t = Trace()
    t.step(1, 0, 200)
    t.cpu_op("aten::linear", 0, 100)        # self 100 - 50 (addmm) = 50   matmul_conv
    t.cpu_op("aten::addmm", 10, 50)         # self 50 - 10 (copy_) = 40    matmul_conv
    t.cpu_op("aten::copy_", 20, 10)         # self 10                      memory
    t.cpu_op("aten::relu", 100, 20)         # self 20 (starts as linear ends: not nested)  elementwise
    other_thread = t.host("cpu_op", "aten::add", 0, 50)  # inside linear's time, but on another thread
    other_thread["tid"] = 2                 # self 50                      elementwise
    a = analyze(t, tmp_path)
    rows = {row["category"]: row for row in a.tables["cpu_operator_categories"]}
    total = 50 + 40 + 10 + 20 + 50
    assert {c: r["self_time_ns"] for c, r in rows.items()} == {"matmul_conv": 90 * US, "elementwise": 70 * US,
                                                               "memory": 10 * US}
    assert value(a, "cpu.matmul_conv_share") == pytest.approx(90 / total)
    assert value(a, "cpu.memory_share") == pytest.approx(10 / total)
    assert [r["category"] for r in a.tables["cpu_operator_categories"]] == ["matmul_conv", "elementwise", "memory"]
