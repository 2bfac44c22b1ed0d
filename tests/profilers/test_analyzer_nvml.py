"""NVML samples CSV. Fixture: device 0 has the energy counter, device 1 only power."""

import pytest

from dnn_suite.errors import UsageError
from dnn_suite_profilers.analyzers import (
    InvalidProfileFile,
    NvmlSample,
    analyze_nvml,
    read_nvml_samples,
    summarize_nvml,
    write_nvml_samples,
)


def values(analysis):
    return {key: metric.value for key, metric in analysis.metrics.items()}


def test_device_with_energy_counter(fixtures_dir):
    v = values(analyze_nvml(fixtures_dir / "nvml_samples.csv"))
    # utilization 10, 20, 30, 40, 100
    assert v["gpu0.gpu_util_mean"] == pytest.approx(40)
    assert v["gpu0.gpu_util_median"] == pytest.approx(30)
    assert v["gpu0.gpu_util_p95"] == pytest.approx(40 + 0.8 * (100 - 40))  # position 0.95 * 4 = 3.8
    assert v["gpu0.mem_util_mean"] == pytest.approx(10)
    assert v["gpu0.mem_used_peak"] == 3000
    assert v["gpu0.power_mean"] == pytest.approx(180)
    assert v["gpu0.energy"] == pytest.approx((500_000 - 50_000) / 1000)
    assert (v["gpu0.samples"], v["gpu0.duration"], v["gpu0.temperature_max"]) == (5, 2.0, 45)


def test_device_without_energy_counter_integrates_power(fixtures_dir):
    analysis = analyze_nvml(fixtures_dir / "nvml_samples.csv")
    v = values(analysis)
    # power 50, 100, 100, 50 W at 0, 1, 2, 3 s: trapezoids 75 + 100 + 75 J
    assert v["gpu1.energy"] == pytest.approx(250)
    assert v["gpu1.gpu_util_p95"] == pytest.approx(50 + 0.85 * 50)  # 0, 50, 50, 100: position 2.85
    assert v["gpu1.mem_util_mean"] == pytest.approx(10 / 3)  # the empty cell is left out
    assert v["gpu1.sm_clock_mean"] == pytest.approx(1410)
    sources = [row["energy_source"] for row in analysis.tables["per_device"]]
    assert sources == ["energy counter", "power integrated over time"]


def test_totals_and_energy_per_sample(fixtures_dir):
    v = values(analyze_nvml(fixtures_dir / "nvml_samples.csv", training_samples=350))
    assert v["energy"] == pytest.approx(700)
    assert v["energy_per_sample"] == pytest.approx(2.0)
    assert v["gpu_util_mean"] == pytest.approx((40 + 50) / 2)
    assert "energy_per_sample" not in values(analyze_nvml(fixtures_dir / "nvml_samples.csv"))
    with pytest.raises(UsageError, match="must be positive"):
        analyze_nvml(fixtures_dir / "nvml_samples.csv", training_samples=0)


def test_write_read_round_trip(tmp_path):
    samples = [
        NvmlSample(0.0, 0, 12.5, 3.0, 1 << 30, 250.5, 1_000_000, 1980.0, 50.0),
        NvmlSample(0.1, 0, power_w=260.0),
    ]
    path = tmp_path / "nvml.csv"
    write_nvml_samples(path, samples)
    assert path.read_text().splitlines()[0] == (
        "timestamp_s,device_index,gpu_util_pct,mem_util_pct,mem_used_bytes,power_w,energy_mj,sm_clock_mhz,temperature_c"
    )
    assert read_nvml_samples(path) == samples


def test_single_sample_has_no_energy(tmp_path):
    path = tmp_path / "nvml.csv"
    write_nvml_samples(path, [NvmlSample(0.0, 0, 50.0, power_w=100.0, energy_mj=5)])
    v = values(analyze_nvml(path, training_samples=10))
    assert v["gpu0.energy"] is None and v["energy_per_sample"] is None
    assert v["gpu0.gpu_util_p95"] == 50.0


def test_no_samples_in_memory(tmp_path):
    v = values(summarize_nvml([], tmp_path / "nvml.csv", training_samples=10))
    assert v == {"energy": None, "gpu_util_mean": None, "energy_per_sample": None}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,util\n1,2\n", "the first line is not the NVML samples header"),
        (
            "timestamp_s,device_index,gpu_util_pct,mem_util_pct,mem_used_bytes,power_w,energy_mj,sm_clock_mhz,temperature_c\n",
            "no samples",
        ),
        (
            "timestamp_s,device_index,gpu_util_pct,mem_util_pct,mem_used_bytes,power_w,energy_mj,sm_clock_mhz,temperature_c\n"
            "0.0,0,abc,,,,,,\n",
            "line 2: gpu_util_pct is 'abc', not a number",
        ),
        (
            "timestamp_s,device_index,gpu_util_pct,mem_util_pct,mem_used_bytes,power_w,energy_mj,sm_clock_mhz,temperature_c\n"
            ",0,1,,,,,,\n",
            "line 2: timestamp_s is '', not a number",
        ),
        (
            "timestamp_s,device_index,gpu_util_pct,mem_util_pct,mem_used_bytes,power_w,energy_mj,sm_clock_mhz,temperature_c\n"
            "0.0,0,1\n",
            "line 2 has 3 fields, not 9",
        ),
    ],
)
def test_invalid_files(tmp_path, text, message):
    path = tmp_path / "nvml.csv"
    path.write_text(text)
    with pytest.raises(InvalidProfileFile, match=message):
        analyze_nvml(path)


def test_units_and_descriptions_users_read(fixtures_dir):
    """``dnn-suite analyze`` prints each metric with its unit and what it is."""
    analysis = analyze_nvml(fixtures_dir / "nvml_samples.csv", training_samples=350)
    labels = {key: (metric.unit, metric.description) for key, metric in analysis.metrics.items()}
    per_device = {
        "samples": ("samples", "NVML samples"),
        "duration": ("s", "first to last sample"),
        "gpu_util_mean": ("%", "mean GPU utilization"),
        "gpu_util_median": ("%", "median GPU utilization"),
        "gpu_util_p95": ("%", "95th percentile GPU utilization"),
        "mem_util_mean": ("%", "mean memory utilization"),
        "mem_used_peak": ("B", "peak memory used"),
        "power_mean": ("W", "mean power"),
        "sm_clock_mean": ("MHz", "mean SM clock"),
        "temperature_max": ("degC", "peak temperature"),
    }
    assert labels == {
        "energy": ("J", "GPU energy, all devices"),
        "gpu_util_mean": ("%", "mean GPU utilization, mean over devices"),
        "energy_per_sample": ("J/sample", "GPU energy, all devices / 350 training samples"),
        **{f"gpu0.{key}": label for key, label in per_device.items()},
        "gpu0.energy": ("J", "GPU energy (energy counter)"),
        **{f"gpu1.{key}": label for key, label in per_device.items()},
        "gpu1.energy": ("J", "GPU energy (power integrated over time)"),
    }
    assert analysis.tool == "nvml" and analysis.source == fixtures_dir / "nvml_samples.csv"
    rows = analysis.tables["per_device"]
    assert [(row["device"], row["samples"], row["energy"]) for row in rows] == [(0, 5, 450.0), (1, 4, 250.0)]
    assert list(rows[0]) == ["device", *per_device, "energy", "energy_source"]


def test_energy_of_a_device_without_samples_has_no_source(tmp_path):
    path = tmp_path / "nvml.csv"
    write_nvml_samples(path, [NvmlSample(0.0, 0, 50.0)])
    metric = analyze_nvml(path).metrics["gpu0.energy"]
    assert (metric.value, metric.unit, metric.description) == (None, "J", "GPU energy")


def test_power_integrated_over_uneven_steps(tmp_path):
    # 100 W at 0 s, 200 W at 0.5 s, 200 W at 2 s: 0.5 s * 150 W + 1.5 s * 200 W = 375 J
    samples = [NvmlSample(0.0, 0, power_w=100.0), NvmlSample(0.5, 0, power_w=200.0), NvmlSample(2.0, 0, power_w=200.0)]
    assert summarize_nvml(samples, tmp_path / "n.csv").metrics["gpu0.energy"].value == pytest.approx(375)


def test_two_samples_are_enough_for_energy(tmp_path):
    counter = [NvmlSample(10.0, 0, energy_mj=1_000), NvmlSample(11.5, 0, energy_mj=4_500)]
    v = values(summarize_nvml(counter, tmp_path / "n.csv"))
    assert (v["gpu0.energy"], v["gpu0.duration"]) == (pytest.approx(3.5), pytest.approx(1.5))
    # the middle sample has neither counter nor power: the two powered ones span 3 s at (100 + 300) / 2 W
    powered = [NvmlSample(0.0, 0, power_w=100.0), NvmlSample(1.0, 0), NvmlSample(3.0, 0, power_w=300.0)]
    v = values(summarize_nvml(powered, tmp_path / "n.csv", training_samples=1))
    assert v["gpu0.energy"] == pytest.approx(600)
    assert v["energy_per_sample"] == pytest.approx(600)  # one training sample is a valid count
    one_powered = [NvmlSample(0.0, 0, power_w=100.0), NvmlSample(1.0, 0)]
    assert summarize_nvml(one_powered, tmp_path / "n.csv").metrics["gpu0.energy"].value is None


HEADER = "timestamp_s,device_index,gpu_util_pct,mem_util_pct,mem_used_bytes,power_w,energy_mj,sm_clock_mhz,temperature_c"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the first line is not the NVML samples header"),
        (HEADER + "\n", "no samples"),
        (HEADER + "\n0.0,0,1\n", "line 2 has 3 fields, not 9"),
        (HEADER + "\n\n0.5,0,1,2,3,4,5,6,x\n", "line 3: temperature_c is 'x', not a number"),
        # an index or counter that is not a whole number, and a value that is not finite, would be
        # an internal error (int(inf)) or a silently wrong figure (device 1.5 read as device 1)
        (HEADER + "\n0.0,inf,1,2,3,4,5,6,7\n", "line 2: device_index is 'inf', not a finite number"),
        (HEADER + "\n0.0,1.5,1,2,3,4,5,6,7\n", "line 2: device_index is '1.5', not a whole number"),
        (HEADER + "\n0.0,0,1,2,3,4,5.5,6,7\n", "line 2: energy_mj is '5.5', not a whole number"),
        (HEADER + "\n0.0,0,1,2,3,nan,5,6,7\n", "line 2: power_w is 'nan', not a number"),
        (HEADER + "\n-inf,0,1,2,3,4,5,6,7\n", "line 2: timestamp_s is '-inf', not a finite number"),
    ],
)
def test_error_messages_name_the_file_and_the_format(tmp_path, text, problem):
    path = tmp_path / "nvml.csv"
    path.write_text(text)
    with pytest.raises(InvalidProfileFile) as error:
        analyze_nvml(path)
    assert str(error.value) == f"{path}: {problem}; expected an NVML samples CSV with header {HEADER}"
    assert error.value.path == path


def test_missing_file(tmp_path):
    with pytest.raises(InvalidProfileFile) as error:
        analyze_nvml(tmp_path / "nvml.csv")
    assert str(error.value) == (f"{tmp_path / 'nvml.csv'}: cannot read it (No such file or directory); "
                                f"expected an NVML samples CSV with header {HEADER}")
