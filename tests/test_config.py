"""neurostock.yml as typed models: defaults, paths relative to the file, and every
mistake one line naming the file and the key path. Real files in tmp_path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from neurostock.core.config import (
    _TOP_KEYS,
    Config,
    EmbedderConfig,
    LearnedConfig,
    learned_config,
    load_config,
)
from neurostock.core.errors import NeurostockError
from tests.conftest import run_cli

REPOSITORY = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "neurostock.yml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(NeurostockError) as caught:
        load_config(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"config {path}: ")
    return message.removeprefix(f"config {path}: ")


ST = "{id: st, library: sentence_transformers, model: m"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"embedders:\n  - {ST}, batch_size: abc}}\n",
         "embedders[0].batch_size: must be a whole number, got 'abc'"),
        (f"embedders:\n  - {ST}, batch_size: 0}}\n",
         "embedders[0].batch_size: must be at least 1, got 0"),
        (f"embedders:\n  - {ST}}}\n  - {{id: b, library: st, model: m}}\n",
         "embedders[1].library: 'st' is not one of 'open_clip', 'sentence_transformers'"),
        ("embedders:\n  - {id: b, libary: open_clip, model: m}\n",
         "embedders[0].libary: unknown key (and 1 more)"),
        ("embedders:\n  - {library: open_clip, model: m, pretrained: random}\n",
         "embedders[0].id: is required"),
        ("embedders:\n  - {id: 9x, library: open_clip, model: m, pretrained: random}\n",
         "embedders[0].id: '9x' must be lowercase letters, digits and _ (max 48)"),
        (f"embedders:\n  - {ST}}}\n  - {ST}}}\n", "embedder id(s) used twice: st"),
        ("embedders: [clip]\n", "embedders[0]: must be a mapping, got 'clip'"),
        (f"embedders:\n  - {ST}, kinds: prompt}}\n",
         "embedders[0].kinds: must be a list, got 'prompt'"),
        ("scorers: [technical, aesthetic]\n",
         "scorers[1]: 'aesthetic' is not one of 'technical', 'phash', 'nsfw', "
         "'text_in_image'"),
        ("images: {workers: two}\n", "images.workers: must be a whole number, got 'two'"),
        ("images: {copy_unusable: perhaps}\n",
         "images.copy_unusable: must be true or false, got 'perhaps'"),
        ("images: {dst: out}\n", "images.dst: unknown key"),
        ("learned:\n  - {name: Quality}\n",
         "learned[0].name: 'Quality' must be lowercase letters, digits and _ "
         "(starting with a letter, max 41)"),
        ("learned:\n  - {name: q, model: forest}\n",
         "learned[0].model: 'forest' is not one of 'ridge', 'ordinal', 'decision'"),
        ("learned:\n  - {name: q, folds: 1}\n", "learned[0].folds: must be at least 2, got 1"),
        ("learned:\n  - {name: q, kinds: [keyword]}\n",
         "learned[0].kinds[0]: 'keyword' is not one of 'image', 'prompt'"),
        ("learned:\n  - {name: q, scores: false}\n",
         "learned[0]: no features (no embedders and scores: false)"),
        ("learned:\n  - {name: q}\n  - {name: q}\n", "learned model name(s) used twice: q"),
        ("learners: []\n", "learners: unknown key"),
        ("path: /somewhere\n", f"path: unknown key (known: {', '.join(_TOP_KEYS)})"),
    ],
)
def test_every_mistake_is_one_line_with_its_key_path(tmp_path, text, expected):
    assert _error(tmp_path, text) == expected


def test_a_bad_batch_size_stops_the_cli_in_one_line(tmp_path, capsys):
    config = _write(tmp_path, f"embedders:\n  - {ST}, batch_size: abc}}\n")
    assert run_cli(tmp_path / "warehouse.duckdb", config, "build") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"config {config}: embedders[0].batch_size: must be a whole number" in err[0]


def test_values_defaults_and_paths_relative_to_the_file(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    path = _write(folder, "embedders:\n"
                          "  - {id: clip, library: open_clip, model: m, pretrained: w/b32.pt,\n"
                          "     model_config: arch.json, batch_size: '16'}\n"
                          f"  - {ST}}}\n"
                          "scorers: [phash]\n"
                          "learned:\n  - {name: q, embedders: [st], scores: false}\n"
                          "images:\n  map: {/srv/core: /mnt/core}\n  roots: [pics, /abs]\n"
                          "  copy_unusable: true\n")
    config = load_config(path)
    clip, st = config.embedders
    assert clip.pretrained == str(folder / "w" / "b32.pt")
    assert clip.model_config == str(folder / "arch.json")
    assert (clip.batch_size, clip.kinds, clip.is_random_init) == (
        16, ("image", "prompt", "keyword"), False)
    assert (st.pretrained, st.batch_size, st.device, st.kinds, st.precision) == (
        None, 64, "auto", ("prompt", "keyword"), "auto")
    assert config.scorers == ("phash",) and config.path == path
    assert config.learned == (LearnedConfig(name="q", embedders=("st",), use_scores=False),)
    assert config.learned[0].kinds == ("image", "prompt")
    assert config.learned[0].scorer_id == "learned_q"
    images = config.images
    assert images.maps == ("/srv/core=/mnt/core",)
    assert images.roots == (str(folder / "pics"), "/abs")
    assert images.dest == str(folder / "all_data")
    assert (images.workers, images.max_pixels, images.copy_unusable) == (4, 64_000_000, True)


def test_empty_sections_and_no_file_mean_the_defaults(tmp_path):
    config = load_config(_write(tmp_path, "embedders:\nscorers:\nlearned:\nimages:\n"))
    assert (config.embedders, config.scorers, config.learned) == ((), (), ())
    assert config.images.dest == str(tmp_path / "all_data")
    assert config.images.copy_unusable is False
    assert load_config("none") == Config()


def test_the_shipped_config_loads():
    config = load_config(REPOSITORY / "neurostock.yml")
    assert [e.id for e in config.embedders] == ["clip_b32_random", "minilm_l6"]
    assert config.embedders[0].is_random_init
    assert [m.name for m in config.learned] == ["quality", "decision"]
    assert config.learned[1].context_blocks == ("prompt_words", "prefix", "experiment", "month")


def test_models_are_frozen_and_checked_when_built_in_code():
    embedder = EmbedderConfig(id="e", library="open_clip", model="m", pretrained="random")
    with pytest.raises(dataclasses.FrozenInstanceError):
        embedder.batch_size = 8  # type: ignore[misc]
    assert dataclasses.replace(embedder, batch_size=8).batch_size == 8
    with pytest.raises(NeurostockError, match=r"^neurostock train: folds: must be at least 2"):
        learned_config("neurostock train", name="adhoc", folds=1)


def test_an_adhoc_train_model_is_checked_in_one_line(tmp_path, capsys):
    config = _write(tmp_path, "")
    assert run_cli(tmp_path / "warehouse.duckdb", config, "train", "--name", "Bad-Name") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "neurostock train: name: 'Bad-Name' must be lowercase" in err[0]


def test_config_none_on_the_command_line_means_no_file(tmp_path, monkeypatch, capsys):
    # A broken ./neurostock.yml beside: `--config none` must not read it, nor look for
    # a file called `none`.
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "embedders: [1\n")
    assert run_cli(tmp_path / "warehouse.duckdb", "none", "train", "--name", "x") == 1
    err = capsys.readouterr().err.strip()
    assert "config" not in err and "table full_set is missing" in err
