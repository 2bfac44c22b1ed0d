"""The built-in profiler plugins (package ``dnn_suite_profilers``), one module per tool, each
registered through the ``dnn_suite`` entry-point group like any third-party plugin.

=========  ========  ==========================================================================
profiler   kind      what it measures
=========  ========  ==========================================================================
cpu        sampler   process CPU %, per-core CPU %, RSS (psutil)
nvml       sampler   GPU utilization, memory, power, energy, SM clock, temperature (pynvml)
torch      in-proc.  torch.profiler: Chrome trace, top operators (CPU, CUDA)
memory     in-proc.  MemTracker: bytes per category and top-level module on tracked iterations, CUDA
                     allocator view and snapshot, fixed + per-sample batch-size fit
nsys       launcher  Nsight Systems: GPU compute utilization per device, kernels, memcpy
nvprof     launcher  (alias nvvp) the same with legacy nvprof, GPUs below compute capability 8.0
nsight     launcher  (alias ncu) Nsight Compute: FMA/FP16/Tensor/SFU utilization per kernel
=========  ========  ==========================================================================

Launchers re-run the benchmark as a child under their tool (:mod:`.launching` holds what they
share; the child's CUDA profiler API and NVTX calls go through :mod:`.capture`, the one seam the
tests' fake tools observe); ``analyze`` (:mod:`.analyze`) serves ``dnn-suite analyze`` from the analyzers in
:mod:`.analyzers`.

Which combinations make sense
    * one launcher per run (the core refuses two: each needs its own re-run);
    * ``nsight`` alone: ncu replays every kernel several times with the GPU serialized, so
      sampled GPU/CPU numbers (``nvml``, ``cpu``) and a ``torch`` timeline would describe the
      replays, and the run's own throughput is not a training throughput either;
    * ``nsys`` or ``nvprof`` with ``nvml`` and/or ``cpu``: fine, the samplers run in the child,
      under the tool, whose tracing overhead is small;
    * ``torch`` with ``nsys``/``nvprof``/``nsight``: refused, all of them subscribe to CUPTI,
      which takes one subscriber;
    * ``torch``, ``cpu`` and ``nvml`` together in-process: fine; torch.profiler's own overhead
      shows in the CPU numbers and the throughput.
"""
