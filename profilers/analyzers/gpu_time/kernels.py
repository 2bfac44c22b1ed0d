"""Kernel categories, tensor cores, launches, synchronizations, and the operator behind each kernel.

* Category of a kernel, by its name, first match: communication (NCCL/RCCL); memory (layout
  conversions, copies and concatenations run as kernels; memcpy and memset operations too);
  normalization (before the libraries: cuDNN runs batch norm too); matrix multiply /
  convolution (cuBLAS, cuBLASLt, CUTLASS, cuDNN, hipBLASLt, rocBLAS ``Cijk``, MIOpen, Triton
  ``mm``); reduction (softmax, losses, pooling); elementwise; other.
* Tensor-core kernels: TensorBoard's allowlist of name fragments (``h884``, ``s1688``, ``hmma``,
  ``xmma_gemm``, ...) plus the names of the Ampere and Hopper libraries' tensor-core kernels
  (``tensorop``, ``gmma``, ``wgmma``, ``sm80_xmma``, ``sm90_xmma``, ``bf16``/``f16`` GEMMs).
  Tensor-core-eligible operators: TensorBoard's allowlist (convolutions, matmul, linear, bmm,
  ... and their backward functions).
* Launch delay of a kernel = its start minus the end of the runtime call that launched it
  (HTA's ``get_cuda_kernel_launch_stats``); queue length of a stream at a launch = operations
  launched on it and not yet finished (HTA's queue length).
* Synchronizations: ``cudaStreamSynchronize``, ``cudaDeviceSynchronize``,
  ``cudaEventSynchronize``, ``cudaStreamWaitEvent`` is not one (it does not block the host),
  their HIP twins, and blocking ``cudaMemcpy``/``hipMemcpy`` calls (not ``...Async``).
* The operator of a kernel: the CPU operator with the kernel's external id (the innermost one
  that launched it).
"""

from __future__ import annotations

import re

import numpy as np

from .model import CPU_OP, KERNEL, MEMCPY, MEMSET, NONE, RUNTIME, Timeline, distinct

KERNEL_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("communication", re.compile(r"nccl|rccl|all_?reduce|all_?gather|reduce_?scatter", re.I)),
    ("memory", re.compile(r"nchwToNhwc|nhwcToNchw|nchw.*nhwc|nhwc.*nchw|convertTensor|transpose|"
                          r"CatArray|direct_copy|copy_kernel|permute|layout", re.I)),
    ("normalization", re.compile(r"norm|bn_fw|bn_bw|batch_norm|welford", re.I)),
    ("matmul_conv", re.compile(r"gemm|gemv|conv|cutlass|cublas|cudnn|xmma|implicit|winograd|wgrad|dgrad|fprop|"
                               r"Cijk|miopen|hipblaslt|sm\d\d_|_mm_|triton_.*mm|bmm|matmul", re.I)),
    ("reduction", re.compile(r"reduce|softmax|sum_|mean|argmax|argmin|scan|cross_entropy|nll_loss|max_pool", re.I)),
    ("elementwise", re.compile(r"elementwise|vectorized|unrolled|pointwise|triton_poi|fill|arange|distribution|"
                               r"index|where|clamp|activation|relu|silu|sigmoid|gelu|tanh|add|mul|div", re.I)),
)
LAYOUT_CONVERSION = re.compile(r"nchwToNhwc|nhwcToNchw|nchw.*nhwc|nhwc.*nchw|convertTensor", re.I)
TENSOR_CORE = re.compile(
    r"h884|s884|h1688|s1688|hmma|i8816|16816|dgrad_1x1_stride_2x2|first_layer_wgrad_kernel|conv1x1|conv2d_c1_k1|"
    r"direct_group|xmma_implicit_gemm|xmma_sparse_conv|xmma_warp_specialized_implicit_gemm|xmma_gemm|"
    r"xmma_sparse_gemm|c1688|tensorop|gmma|wgmma|sm80_xmma|sm86_xmma|sm89_xmma|sm90_xmma|imma|"
    r"(bf16|f16|fp16|e4m3|e5m2).*gemm|gemm.*(bf16|f16|fp16)")
TENSOR_CORE_OPERATORS = frozenset((
    "aten::_convolution", "aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::conv_tbc",
    "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d", "aten::convolution",
    "aten::cudnn_convolution", "aten::cudnn_convolution_transpose", "aten::prelu", "aten::addmm", "aten::addmv",
    "aten::addr", "aten::matmul", "aten::mm", "aten::mv", "aten::linear", "aten::addbmm", "aten::baddbmm",
    "aten::bmm", "aten::chain_matmul", "aten::linalg_multi_dot", "aten::_thnn_fused_lstm_cell",
    "aten::_thnn_fused_gru_cell", "aten::lstm_cell", "aten::gru_cell", "aten::rnn_tanh_cell",
    "aten::rnn_relu_cell", "CudnnConvolutionBackward", "BmmBackward0", "aten::cudnn_convolution_transpose_backward",
    "CudnnConvolutionTransposeBackward", "MmBackward", "aten::cudnn_convolution_backward_weight", "aten::addmm_",
    "AddmvBackward", "MvBackward", "aten::cudnn_convolution_transpose_backward_weight",
    "aten::cudnn_convolution_transpose_backward_input", "AddmmBackward", "aten::cudnn_convolution_backward_input",
    "AddbmmBackward", "aten::cudnn_convolution_backward", "aten::convolution_backward", "aten::_scaled_mm",
    "aten::scaled_dot_product_attention", "aten::_scaled_dot_product_flash_attention",
    "aten::_scaled_dot_product_efficient_attention", "aten::_scaled_dot_product_cudnn_attention",
))
SYNC_CALLS = re.compile(r"^(cuda|hip)(StreamSynchronize|DeviceSynchronize|EventSynchronize|Memcpy|MemcpyDtoH|"
                        r"MemcpyWithStream)$|^cu(StreamSynchronize|CtxSynchronize|EventSynchronize)$")


def kernel_category(name: str) -> str:
    return next((category for category, pattern in KERNEL_CATEGORIES if pattern.search(name)), "other")


def operator_names(timeline: Timeline) -> np.ndarray:
    """For each GPU operation, the name id of the CPU operator that launched it (-1 if unknown):
    the operator with its external id that started last (the innermost)."""
    host, gpu = timeline.host, timeline.gpu
    ops = np.flatnonzero((host.kind == CPU_OP) & (host.external_id != NONE))
    ops = ops[np.lexsort((host.start[ops], host.external_id[ops]))]
    keys = host.external_id[ops]
    result = np.full(len(gpu), NONE, dtype=np.int64)
    if not keys.size:
        return result
    last = np.searchsorted(keys, gpu.external_id, side="right") - 1
    found = (gpu.external_id != NONE) & (last >= 0)
    found[found] = keys[last[found]] == gpu.external_id[found]
    result[found] = host.name[ops[last[found]]]
    return result


def kernel_tables(timeline: Timeline, kept: np.ndarray, top: int) -> dict[str, object]:
    """Categories, tensor-core shares and the top kernels of the operations in ``kept``."""
    gpu = timeline.gpu
    names = timeline.names
    kernels = kept & (gpu.kind == KERNEL)
    durations = gpu.end - gpu.start
    total = int(durations[kernels].sum())
    category_of = {i: kernel_category(names[i]) for i in distinct(gpu.name[kernels])}
    by_category: dict[str, int] = {}
    for name_id, duration in zip(gpu.name[kernels].tolist(), durations[kernels].tolist()):
        category = category_of[name_id]
        by_category[category] = by_category.get(category, 0) + duration
    copies = kept & np.isin(gpu.kind, (MEMCPY, MEMSET))
    if copies.any():
        by_category["memory"] = by_category.get("memory", 0) + int(durations[copies].sum())
    all_time = total + int(durations[copies].sum())
    tensor_core = kernels & timeline.named(gpu.name, lambda n: TENSOR_CORE.search(n) is not None)
    layout = kernels & timeline.named(gpu.name, lambda n: LAYOUT_CONVERSION.search(n) is not None)
    operator = operator_names(timeline)
    eligible_ids = [i for i, n in enumerate(names) if n in TENSOR_CORE_OPERATORS]
    eligible = kernels & np.isin(operator, eligible_ids)
    figures = {
        "kernel_time_ns": total,
        "kernel_count": int(kernels.sum()),
        "tensor_core_share": int(durations[tensor_core].sum()) / total if total else None,
        "tensor_core_eligible_share": int(durations[eligible].sum()) / total if total else None,
        "eligible_on_tensor_cores_share": (int(durations[eligible & tensor_core].sum()) / int(durations[eligible].sum())
                                           if eligible.any() and durations[eligible].sum() else None),
        "layout_conversion_share": int(durations[layout].sum()) / total if total else None,
        "median_kernel_ns": float(np.median(durations[kernels])) if kernels.any() else None,
    }
    categories = [{"category": c, "time_ns": t, "share": t / all_time if all_time else None}
                  for c, t in sorted(by_category.items(), key=lambda item: -item[1])]
    return {"figures": figures, "categories": categories,
            "top": top_kernels(timeline, kernels, operator, top, total)}


def top_kernels(timeline: Timeline, kernels: np.ndarray, operator: np.ndarray, top: int, total: int) -> list[dict]:
    gpu = timeline.gpu
    durations = gpu.end - gpu.start
    index = np.flatnonzero(kernels)
    if not index.size:
        return []
    ids, inverse = np.unique(gpu.name[index], return_inverse=True)
    sums = np.bincount(inverse, weights=durations[index])
    counts = np.bincount(inverse)
    rows = []
    for position in np.argsort(-sums)[:top].tolist():
        members = index[inverse == position]
        ops, op_counts = np.unique(operator[members], return_counts=True)
        op = int(ops[np.argmax(op_counts)])
        rows.append({
            "time_ns": int(sums[position]),
            "share": float(sums[position]) / total if total else None,
            "calls": int(counts[position]),
            "mean_ns": float(sums[position]) / int(counts[position]),
            "category": kernel_category(timeline.names[int(ids[position])]),
            "operator": timeline.names[op] if op != NONE else None,
            "name": timeline.names[int(ids[position])],
        })
    return rows


def launch_statistics(timeline: Timeline, kept: np.ndarray) -> dict[str, float | None]:
    """Launch delay (kernel start - end of its launch call) and the streams' queue lengths."""
    gpu, host = timeline.gpu, timeline.host
    launcher = timeline.launch_calls()
    linked = kept & (launcher >= 0) & (gpu.kind == KERNEL)
    if not linked.any():
        return {"launch_delay_mean_ns": None, "launch_delay_median_ns": None, "launch_delay_p90_ns": None,
                "launch_call_mean_ns": None, "queue_length_mean": None, "queue_length_max": None}
    calls = launcher[linked]
    delay = gpu.start[linked] - host.end[calls]
    queue = _queue_lengths(host.start[calls], gpu.end[linked], gpu.stream[linked], gpu.device[linked])
    return {
        "launch_delay_mean_ns": float(delay.mean()),
        "launch_delay_median_ns": float(np.median(delay)),
        "launch_delay_p90_ns": float(np.percentile(delay, 90)),
        "launch_call_mean_ns": float((host.end[calls] - host.start[calls]).mean()),
        "queue_length_mean": float(queue.mean()),
        "queue_length_max": int(queue.max()),
    }


def _queue_lengths(launch: np.ndarray, finish: np.ndarray, stream: np.ndarray, device: np.ndarray) -> np.ndarray:
    """At each launch, the operations of its stream launched and not finished (itself included)."""
    result = np.zeros(launch.size, dtype=np.int64)
    for key in set(zip(device.tolist(), stream.tolist())):
        on = np.flatnonzero((device == key[0]) & (stream == key[1]))
        launched = np.sort(launch[on])
        finished = np.sort(finish[on])
        result[on] = (np.searchsorted(launched, launch[on], side="right")
                      - np.searchsorted(finished, launch[on], side="right"))
    return result


def synchronizations(timeline: Timeline, spans: list[tuple[int, int]]) -> dict[str, float | None]:
    """Host-device synchronizations inside the steps: count and time per step."""
    host = timeline.host
    if not spans:
        return {"sync_calls_per_step": None, "sync_time_per_step_ns": None, "sync_share": None}
    calls = (host.kind == RUNTIME) & timeline.named(host.name, lambda n: SYNC_CALLS.match(n) is not None)
    inside = np.zeros(len(host), dtype=bool)
    for start, end in spans:
        inside |= (host.start >= start) & (host.start < end)
    chosen = calls & inside
    time = int((host.end[chosen] - host.start[chosen]).sum())
    step_time = sum(e - s for s, e in spans)
    return {"sync_calls_per_step": int(chosen.sum()) / len(spans), "sync_time_per_step_ns": time / len(spans),
            "sync_share": time / step_time if step_time else None}
