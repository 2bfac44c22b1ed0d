"""A complete third-party model plugin for dnn-suite, in one module.

It offers the model ``linreg``: least-squares linear regression on generated data. The
same hooks serve any model, from this toy to EfficientDet.
"""

from __future__ import annotations

import torch

from dnn_suite.context import StepOutput
from dnn_suite.hookspecs import hookimpl
from dnn_suite.phases import phase
from dnn_suite.options import Option
from dnn_suite.registry import ModelSpec
from dnn_suite.value_types import Integer, Number

FEATURES = {"narrow": 8, "wide": 256}


@hookimpl
def dnn_suite_register_models(register):
    """Declare the model: variants, datasets, default hyper-parameters."""
    register(ModelSpec(
        name="linreg",
        description="linear regression on generated data (example plugin)",
        variants=tuple(FEATURES),
        default_variant="narrow",
        datasets=("generated",),
        default_dataset="generated",
        default_batch_size=16,
        options=(
            Option("lr", 0.01, "SGD learning rate", Number(above=0), flag=True),
            Option("samples", 256, "size of the generated dataset", Integer(minimum=1)),
        ),
    ))


@hookimpl
def dnn_suite_build_model(run):
    return torch.nn.Linear(FEATURES[run.config.variant], 1).to(run.device)


@hookimpl
def dnn_suite_build_dataloader(run, split):
    generator = torch.Generator().manual_seed(run.config.seed)
    features = torch.randn(run.options["samples"], FEATURES[run.config.variant], generator=generator)
    targets = features @ torch.linspace(-1, 1, features.shape[1]).unsqueeze(1)
    dataset = torch.utils.data.TensorDataset(features, targets)
    return torch.utils.data.DataLoader(dataset, batch_size=run.config.batch_size, shuffle=split == "train")


@hookimpl
def dnn_suite_build_optimizer(run, model):
    return torch.optim.SGD(model.parameters(), lr=run.options["lr"])


@hookimpl
def dnn_suite_train_step(run, model, batch, optimizer):
    """One iteration, its phases marked for ``--profiler torch`` (free when no profiler records)."""
    with phase("to_device"):
        features, targets = (t.to(run.device, non_blocking=True) for t in batch)
    with phase("forward"):
        predictions = model(features)
    with phase("loss"):
        loss = torch.nn.functional.mse_loss(predictions, targets)
    with phase("backward"):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    with phase("optimizer"):
        optimizer.step()
    return StepOutput(loss=loss.detach(), samples=len(features))


@hookimpl
def dnn_suite_evaluate(run, model):
    with torch.no_grad():
        losses = [torch.nn.functional.mse_loss(model(x.to(run.device)), y.to(run.device)).item()
                  for x, y in dnn_suite_build_dataloader(run, "eval")]
    return {"mse": sum(losses) / len(losses)}
