"""A checkpoint refused for a dataset of its classes in another order says the ``--set`` that reads
them in its order, where one does (the detection plugins' ``classes`` option, for ``voc:`` data)."""

from __future__ import annotations

import shlex

import pytest

from own_data import write_own_voc
from dnn_suite.training.classes import class_difference


def test_the_order_setting_is_named_only_where_one_orders_the_classes():
    assert class_difference(["b", "a"], ["a", "b"], "the checkpoint", "the dataset") == \
        "the same names in another order"
    assert class_difference(["b", "a"], ["a", "b"], "the checkpoint", "the dataset", "model_options.classes") == \
        "the same names in another order; read them in the checkpoint's order: --set model_options.classes=b,a"
    assert class_difference(["b", "a"], ["a", "c"], "the checkpoint", "the dataset", "model_options.classes") == \
        "the dataset has c, not in the checkpoint; the checkpoint has b, not in the dataset"


def test_names_a_comma_list_cannot_hold_are_given_as_a_quoted_list():
    hint = class_difference(["b, c", "a"], ["a", "b, c"], "training", "evaluation", "model_options.classes")
    assert hint.endswith("""--set 'model_options.classes=["b, c", "a"]'""")


@pytest.mark.slow
def test_the_hint_of_an_eval_refused_for_the_class_order_makes_it_work(cli, tmp_path):
    voc = write_own_voc(tmp_path / "voc", {"trainval": 2, "test": 2})
    small = ["--image-size", "64", "--batch-size", "2", "--workers", "0"]
    trained = cli("train", "efficientdet", "--dataset", f"voc:{voc}", "--steps", "1", *small,
                  "--set", "model_options.classes=red,green,blue", "--output", tmp_path / "train")
    assert trained.code == 0, trained.err
    [checkpoint] = tmp_path.glob("train/*/checkpoints/last.pt")
    evaluate = ["eval", "efficientdet", "--checkpoint", checkpoint, "--dataset", f"voc:{voc}:test", *small,
                "--output", tmp_path / "eval"]
    refused = cli(*evaluate, "--set", "model_options.classes=blue,green,red")
    assert refused.code == 2
    line = refused.err.strip().splitlines()[-1]
    assert line.endswith("the same names in another order; read them in the checkpoint's order: "
                         "--set model_options.classes=red,green,blue"), line
    hinted = cli(*evaluate, *shlex.split(line.rsplit(": ", 1)[1]))
    assert hinted.code == 0, hinted.err
