"""Library errors name parameters; the CLI renders the same error with the flag the user typed."""

import pytest

from overcoat import api
from overcoat.cli import _flag, main
from overcoat.errors import OvercoatError, SettingError
from overcoat.evaluation import CHOICES, MetaEvalSettings, meta_evaluate


@pytest.mark.parametrize(
    "name, flag",
    [
        ("ties", "--ties"),
        ("ci_method", "--ci"),
        ("level", "--level"),
        ("permute", "--permute"),
        ("judgebench_ties", "--judgebench-ties"),
    ],
)
def test_choice_error_names_parameter_then_flag(name, flag):
    st = MetaEvalSettings(**{name: "nope"})
    with pytest.raises(SettingError) as e:
        st.check()
    ok = ", ".join(CHOICES[name])
    assert str(e.value) == f"{name} must be one of {ok}, got 'nope'"
    assert e.value.render(_flag) == f"{flag} must be one of {ok}, got 'nope'"


def test_braces_in_a_bad_value_are_kept_verbatim():
    with pytest.raises(SettingError) as e:
        MetaEvalSettings(ties="{level}").check()
    assert str(e.value).endswith("got '{level}'")
    assert e.value.render(_flag).startswith("--ties must be one of")
    assert e.value.render(_flag).endswith("got '{level}'")


def test_numeric_settings():
    with pytest.raises(
        SettingError, match=r"^n_resamples must be an integer of at least 1, got 0$"
    ):
        MetaEvalSettings(n_resamples=0).check()
    with pytest.raises(SettingError, match=r"^alpha must be a number strictly between 0 and 1"):
        MetaEvalSettings(alpha=float("nan")).check()


@pytest.fixture(scope="module")
def hh_small():
    ds = api.load("hh-harmless")
    ds = ds.filter_items(ds.items.column("item_id").to_pylist()[:30])
    return api.score(ds, ["length", "random"], progress=False)


def test_data_dependent_error_library_and_cli(hh_small, capsys):
    with pytest.raises(SettingError) as e:
        meta_evaluate(hh_small, MetaEvalSettings(level="system"))
    msg = str(e.value)
    assert msg.startswith("level=system needs responses from shared systems")
    assert msg.endswith("has preference pairs: use level=segment")
    assert e.value.render(_flag).startswith("--level system needs responses from shared systems")
    assert e.value.render(_flag).endswith(": use --level segment")
    with pytest.raises(SettingError) as e:
        meta_evaluate(hh_small, MetaEvalSettings(group="system"))
    assert str(e.value).endswith("use group=item or group=none")
    code = main(
        [
            "meta-eval",
            "-d",
            "hh-harmless",
            "-s",
            "length",
            "--group",
            "system",
            "--no-cache",
            "-q",
            "--max-items",
            "5",
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.rstrip().endswith("use --group item or --group none")


def test_k_folds_range(hh_small):
    with pytest.raises(
        SettingError,
        match=r"^k_folds must be between 2 and the number of items "
        r"\(30\), got 31$",
    ):
        meta_evaluate(hh_small, MetaEvalSettings(n_resamples=10), k_folds=31)


def test_compare_is_segment_level_item_grouped(hh_small):
    res = api.compare(hh_small, MetaEvalSettings(n_resamples=50, level="both", group="none"))
    assert res.settings["level"] == "segment" and res.settings["group"] == "item"
    assert res.significance is not None and res.significance["names"] == ["length", "random"]
    one = api.ScoredDataset(
        hh_small.dataset,
        {"length": hh_small.scores["length"]},
        hh_small.signatures,
        hh_small.higher_is_better,
    )
    with pytest.raises(OvercoatError, match="compare needs at least two scorers"):
        api.compare(one)
