"""YAML configs with dotted command-line overrides (avdf.utils.config)."""
from __future__ import annotations

import pytest

from avdf.train.trainer import TRAIN_DEFAULTS
from avdf.utils.config import ConfigError, load_config, parse_overrides


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("model: {name: fgi, channels: [8, 16]}\ntrain: {epochs: 30}\n")
    return path


def test_parse_overrides_forms():
    assert parse_overrides(["--a.b", "3", "--c=x", "d.e=[1, 2]", "--f", "true"]) == [
        ("a.b", 3), ("c", "x"), ("d.e", [1, 2]), ("f", True)]
    with pytest.raises(ConfigError, match="has no value"):
        parse_overrides(["--a.b"])


def test_known_key_is_overridden(conf):
    cfg = load_config(conf, ["--model.channels", "[4, 4]", "--train.epochs", "2"])
    assert cfg["model"]["channels"] == [4, 4] and cfg["train"]["epochs"] == 2


def test_unknown_key_is_an_error_naming_the_known_ones(conf):
    with pytest.raises(ConfigError, match=r"unknown key 'chanels'.*channels, name"):
        load_config(conf, ["--model.chanels", "3"])
    with pytest.raises(ConfigError, match="no section 'optim'"):
        load_config(conf, ["--optim.lr", "0.1"])


def test_plus_adds_a_key_or_section(conf):
    cfg = load_config(conf, ["--+model.extra", "3", "--+optim.lr", "0.1"])
    assert cfg["model"]["extra"] == 3 and cfg["optim"] == {"lr": 0.1}


def test_defaults_make_their_keys_known_without_merging(conf):
    defaults = {"train": TRAIN_DEFAULTS}
    cfg = load_config(conf, ["--train.num_threads", "1"], defaults=defaults)
    assert cfg["train"] == {"epochs": 30, "num_threads": 1}   # the other defaults stay out of the file
    no_train = conf.with_name("y.yaml")
    no_train.write_text("model: {name: fgi}\n")
    assert load_config(no_train, ["--train.epochs", "2"], defaults=defaults)["train"] == {"epochs": 2}
    with pytest.raises(ConfigError, match="unknown key 'num_thread'"):
        load_config(conf, ["--train.num_thread", "1"], defaults=defaults)
    with pytest.raises(ConfigError, match="unknown key 'num_threads'"):
        load_config(conf, ["--train.num_threads", "1"])   # no defaults given: still an error


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(bad)


def test_train_resolves_the_tasks_data_keys(tmp_path):
    from avdf.bin.train import resolve_config
    conf = tmp_path / "av.yaml"
    conf.write_text("task: av\ndata: {batch_size: 8}\nmodel: {name: fgi}\n")
    cfg = resolve_config(str(conf), ["--data.sync_warmup", "15", "--train.epochs", "3"])
    assert cfg["data"] == {"batch_size": 8, "sync_warmup": 15} and cfg["train"] == {"epochs": 3}
    with pytest.raises(ConfigError, match=r"unknown key 'sync_warmups'.*--\+data.sync_warmups VALUE"):
        resolve_config(str(conf), ["--data.sync_warmups", "15"])
    plain = tmp_path / "plain.yaml"
    plain.write_text("task: tests.toy_task:ToyTask\ndata: {n_train: 8}\n")   # a task without data defaults
    with pytest.raises(ConfigError, match="unknown key 'sync_warmup'"):
        resolve_config(str(plain), ["--data.sync_warmup", "1"])
