"""The architecture registry: one entry per architecture holds everything recipes, the train spec check,
training and export read about it, and each entry's fields agree with the network it builds."""

import numpy as np
import pytest
import torch

from ml import optimize, recipes
from ml.architectures import (
    ARCHITECTURES,
    REGISTRY,
    TEXT,
    SpecError,
    build_model,
    get,
    input_kind,
    rescale_outputs,
)


def _smallest_spec(name: str) -> dict:
    entry = REGISTRY[name]
    spec = {"architecture": name, **entry.defaults, **entry.smallest_data}
    if entry.input_kind == TEXT:
        spec["max_len"] = 8
    if "image_size" in entry.data_fields:
        spec["image_size"] = [4, 4]
    return spec


@pytest.mark.parametrize("name", list(REGISTRY))
def test_each_entry_builds_its_network_and_takes_inputs_of_its_shape(name):
    entry = REGISTRY[name]
    spec = _smallest_spec(name)
    network = build_model(spec).eval()
    assert type(network) is entry.network
    inputs = optimize.example_inputs(spec, batch=3)
    assert inputs.shape == (3, *entry.input_shape(spec))
    assert inputs.dtype == (np.int64 if entry.input_kind == TEXT else np.float32)
    with torch.no_grad():
        outputs = network(torch.from_numpy(inputs))
    assert tuple(outputs.shape) == (3, spec["num_outputs"])


@pytest.mark.parametrize("name", list(REGISTRY))
def test_rescaling_the_output_layer_rescales_every_output(name):
    """Training folds a regression target's scale into `output_layer`: that is only sound when the layer is
    the network's last step, checked here for every architecture (not only those that serve regression
    today) with a scale far from 1 and a shift far from 0."""
    spec = _smallest_spec(name)
    torch.manual_seed(0)
    network = build_model(spec).eval()
    inputs = optimize.example_inputs(spec, batch=3)
    if inputs.dtype == np.float32:
        inputs = np.random.default_rng(0).standard_normal(inputs.shape).astype(np.float32)
    inputs = torch.from_numpy(inputs)
    with torch.no_grad():
        before = network(inputs).double()
        rescale_outputs(network, scale=7.0e11, shift=1.5e12)
        after = network(inputs).double()
    assert isinstance(network.output_layer, torch.nn.Linear)
    assert torch.allclose(after, before * 7.0e11 + 1.5e12, rtol=1e-5, atol=0)
    assert set(network.state_dict()) == set(build_model(spec).state_dict())  # the weights' names are unchanged


@pytest.mark.parametrize("name", list(REGISTRY))
def test_each_entry_drives_the_recipe(name):
    entry = REGISTRY[name]
    assert set(entry.data_fields) >= set(entry.smallest_data)
    assert not set(entry.defaults) & set(entry.data_fields)
    assert recipes.architecture_defaults(name, 10**6) == entry.defaults
    assert recipes.check_options(name, dict(entry.defaults)) == entry.defaults
    for field in entry.data_fields:
        with pytest.raises(SpecError, match="set from the data"):
            recipes.check_options(name, {field: 1})
    for task in recipes.TASKS:
        assert (recipes.fits_task(name, task) is None) == (task in entry.tasks)
    hyper = recipes.default_hyperparameters(name, 10**6)
    assert (hyper["batch_size"], hyper["lr"]) == (entry.training["batch_size"], entry.training["lr"])
    assert input_kind(name) == entry.input_kind and get(name) is entry


def test_the_names_are_the_registry_and_unknown_ones_are_refused():
    assert ARCHITECTURES == tuple(REGISTRY) == ("mlp", "cnn", "textcnn", "transformer")
    assert input_kind("resnet") is None and input_kind(["mlp"]) is None
    with pytest.raises(SpecError, match="must be one of mlp, cnn, textcnn, transformer"):
        get("resnet")
    with pytest.raises(optimize.OptimizeError, match="Eco exports mlp, cnn, textcnn, transformer"):
        optimize.input_shape({"architecture": "resnet"})


def test_small_tables_get_the_entrys_small_data_recipe():
    mlp = REGISTRY["mlp"]
    assert recipes.architecture_defaults("mlp", 100) == {**mlp.defaults, **mlp.small_data_defaults}
    assert recipes.default_hyperparameters("mlp", 100)["batch_size"] == mlp.training["small_batch_size"]
    assert recipes.architecture_defaults("cnn", 100) == REGISTRY["cnn"].defaults
