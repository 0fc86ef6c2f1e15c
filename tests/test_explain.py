"""rnnlm.explain: shapes and parameter counts equal what Keras builds."""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from rnnlm.config import cell_name
from rnnlm.explain import explain, format_table, param_formula

pytest.importorskip("keras")


def _returns(result, layer=-1):
    return [tuple(r["shape"]) for r in result["layer_table"][layer]["returns"]]


def _counts(result):
    return [row["params"] for row in result["layer_table"]]


def test_lstm_return_sequences_and_state_shapes():
    result = explain("lstm", 50, (10, 30), return_sequences=True, return_state=True)
    assert _returns(result) == [(None, 10, 50), (None, 50), (None, 50)]
    assert [r["name"] for r in result["layer_table"][0]["returns"]] == [
        "output", "state_h", "state_c"]
    row = result["layer_table"][0]
    assert row["params"] == 16_200
    assert row["formula"] == "4 × (50 × (30 + 50) + 50) = 16,200"
    assert row["formula_symbolic"] == "4 × (units × (input + units) + units)"


@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_shapes_for_every_flag(cell, return_sequences, return_state):
    result = explain(cell, 6, (4, 5), return_sequences=return_sequences,
                     return_state=return_state)
    output = (None, 4, 6) if return_sequences else (None, 6)
    states = [(None, 6)] * (2 if cell == "lstm" else 1) if return_state else []
    assert _returns(result) == [output, *states]


@pytest.mark.parametrize("merge_mode, width", [("concat", 12), ("sum", 6), ("ave", 6),
                                               ("mul", 6)])
def test_bidirectional_lstm_returns_forward_and_backward_states(merge_mode, width):
    result = explain("lstm", 6, (4, 5), return_sequences=True, return_state=True,
                     bidirectional=True, merge_mode=merge_mode)
    assert _returns(result) == [(None, 4, width)] + [(None, 6)] * 4
    assert [r["name"] for r in result["layer_table"][0]["returns"]] == [
        "output", "forward_h", "forward_c", "backward_h", "backward_c"]


@pytest.mark.parametrize(
    "kwargs, counts",
    [
        (dict(cell="simple_rnn", units=3, input_shape=(2, 10)), [42]),
        (dict(cell="simple_rnn", units=64, input_shape=(28, 28)), [5_952]),
        (dict(cell="simple_rnn", units=64, input_shape=(28, 28), dense=10), [5_952, 650]),
        (dict(cell="lstm", units=64, input_shape=(28, 28)), [23_808]),
        (dict(cell="gru", units=64, input_shape=(28, 28)), [18_048]),
        (dict(cell="gru", units=64, input_shape=(28, 28), reset_after=False), [17_856]),
        (dict(cell="simple_rnn", units=64, input_shape=(28, 28), bidirectional=True),
         [11_904]),
        (dict(cell="lstm", units=64, input_shape=(28, 28), bidirectional=True), [47_616]),
        (dict(cell="simple_rnn", units=[64, 64, 32], input_shape=(28, 28)),
         [5_952, 8_256, 3_104]),
        (dict(cell="gru", units=8, input_shape=(5, 3), layers=2, bidirectional=True,
              merge_mode="sum"), [2 * 3 * (8 * 11 + 16), 2 * 3 * (8 * 16 + 16)]),
    ],
    ids=["simple_rnn_3", "mnist_simple_rnn", "mnist_simple_rnn_dense", "mnist_lstm",
         "mnist_gru", "mnist_gru_reset_before", "mnist_bi_simple_rnn", "mnist_bi_lstm",
         "mnist_stack", "bi_gru_stack_sum"],
)
def test_parameter_counts_equal_keras_and_formulas(kwargs, counts):
    result = explain(**kwargs)
    assert _counts(result) == counts  # Keras's count_params()
    for row in result["layer_table"]:  # the written-out formula gives the same number
        assert row["formula_params"] == row["params"]
        assert row["formula"].endswith(f"= {row['params']:,}")
    assert result["total_params"] == sum(counts)


def test_stack_intermediate_layers_return_sequences():
    result = explain("simple_rnn", "64,64,32", "28,28", return_state=True)
    assert _returns(result, 0) == [(None, 28, 64)]
    assert _returns(result, 1) == [(None, 28, 64)]
    assert _returns(result, 2) == [(None, 32), (None, 32)]
    assert result["layer_table"][1]["input_dim"] == 64


def test_units_repeated_over_layers_and_variable_timesteps():
    result = explain("gru", 8, (None, 3), layers=3)
    assert result["units"] == [8, 8, 8]
    assert _returns(result, 0) == [(None, None, 8)]


def test_numpy_check_is_within_tolerance_and_json_serialisable():
    result = explain("gru", [5, 4], (6, 3), return_sequences=True, return_state=True,
                     bidirectional=True, merge_mode="ave", numpy_check=True)
    check = result["numpy_check"]
    assert check["ok"] and check["max_abs_diff"] < 1e-5
    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm"])
def test_numpy_check_every_cell(cell):
    result = explain(cell, 4, (None, 3), return_state=True, numpy_check=True)
    assert result["numpy_check"]["ok"]
    assert result["numpy_check"]["timesteps"] == 7


def test_format_table_reads_well():
    result = explain("lstm", 50, (10, 30), return_sequences=True, return_state=True,
                     numpy_check=True)
    text = format_table(result)
    for expected in ["LSTM(50)", "state_h", "state_c", "(None, 10, 50)", "(None, 50)",
                     "16,200", "= 4 × (50 × (30 + 50) + 50) = 16,200", "batch shown as None",
                     "max |difference|", "ok"]:
        assert expected in text
    stacked = format_table(explain("simple_rnn", [4, 2], (3, 2), bidirectional=True))
    assert "Bidirectional(SimpleRNN(4)) → Bidirectional(SimpleRNN(2))" in stacked
    # The merge mode and GRU's reset_after apply to every layer of a stack, and say so; the
    # return flags are the last layer's.
    assert ("last layer: return_sequences=False, return_state=False (earlier layers return "
            "sequences); every layer: merge_mode=concat;") in stacked
    gru_stack = format_table(explain("gru", [4, 2], (3, 2), bidirectional=True, merge_mode="sum"))
    assert "; every layer: merge_mode=sum, reset_after=True; batch shown as None" in gru_stack


@pytest.mark.parametrize("name", ["SimpleRNN", "simplernn", "simple_rnn", "LSTM", "Gru"])
def test_cell_names_are_case_insensitive(name):
    assert cell_name(name) in ("simple_rnn", "lstm", "gru")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cell="transformer", units=4, input_shape=(2, 3)), "simple_rnn, lstm, gru"),
        (dict(cell="lstm", units=0, input_shape=(2, 3)), "units"),
        (dict(cell="lstm", units="4,x", input_shape=(2, 3)), "units"),
        (dict(cell="lstm", units=4, input_shape=(2, 0)), "input shape"),
        (dict(cell="lstm", units=4, input_shape=(0, 3)), "input shape"),
        (dict(cell="lstm", units=4, input_shape="5"), "TIMESTEPS,FEATURES"),
        (dict(cell="lstm", units=[4, 4], input_shape=(2, 3), layers=3), "2 units"),
        (dict(cell="lstm", units=4, input_shape=(2, 3), layers=0), "layers"),
        (dict(cell="lstm", units=4, input_shape=(2, 3), bidirectional=True,
              merge_mode="max"), "concat, sum, ave, mul"),
        (dict(cell="lstm", units=4, input_shape=(2, 3), merge_mode="sum"), "bidirectional"),
        (dict(cell="lstm", units=4, input_shape=(2, 3), reset_after=False), "gru"),
        # 40 billion weights: refused before Keras tries to allocate them
        (dict(cell="lstm", units=100_000, input_shape=(10, 30)), "more than explain builds"),
        (dict(cell="lstm", units=4, input_shape=",10,30"), "comma-separated integers"),
        (dict(cell="lstm", units=4, input_shape="10,30,"), "comma-separated integers"),
        (dict(cell="simple_rnn", units=4, input_shape="100000000,3", numpy_check=True),
         "at most 10,000 timesteps"),
        (dict(cell="lstm", units=1, input_shape="10000,10000000", numpy_check=True),
         "and 10,000,000 values"),
    ],
)
def test_bad_options_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        explain(**kwargs)


def test_param_formula_is_plain_arithmetic():
    assert param_formula("gru", 64, 28) == (
        "3 × (units × (input + units) + 2 × units)",
        "3 × (64 × (28 + 64) + 2 × 64) = 18,048", 18_048)
    symbolic, filled, count = param_formula("lstm", 64, 28, bidirectional=True)
    assert symbolic.startswith("2 × 4 ×") and count == 47_616
    # the written-out arithmetic itself gives the count (simple_rnn's sum needs parentheses)
    for cell in ("simple_rnn", "lstm", "gru"):
        for reset_after in (True, False):
            for bidirectional in (False, True):
                _, filled, count = param_formula(cell, 20, 5, reset_after, bidirectional)
                expression = filled.split(" = ")[0].replace("×", "*")
                assert eval(expression) == count, filled  # noqa: S307 (digits and operators)


def test_import_does_not_load_tensorflow():
    code = ("import sys, rnnlm.explain; "
            "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _parse_command(line):
    """The few `rnnlm explain` options the docs use, as explain() keyword arguments."""
    words = line.split()[3:]  # after "$ rnnlm explain"
    kwargs, i = {"cell": words[0]}, 1
    flags = {"--return-sequences": "return_sequences", "--return-state": "return_state",
             "--bidirectional": "bidirectional", "--numpy": "numpy_check"}
    while i < len(words):
        if words[i] in flags:
            kwargs[flags[words[i]]], i = True, i + 1
        elif words[i] == "--no-reset-after":
            kwargs["reset_after"], i = False, i + 1
        else:
            name = words[i][2:].replace("-", "_")
            kwargs[name], i = (int(words[i + 1]) if name == "layers" else words[i + 1]), i + 2
    return kwargs


def test_docs_examples_are_what_explain_prints():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "cells.md"
    if not doc.exists():
        pytest.skip("docs/cells.md not in this checkout")
    blocks = [b.split("```", 1)[0] for b in doc.read_text(encoding="utf-8").split("```text\n")[1:]]
    checked = 0
    for block in blocks:
        command, printed = block.split("\n", 1)
        if not command.startswith("$ rnnlm explain"):
            continue
        kwargs = _parse_command(command)
        text = format_table(explain(**kwargs))
        if kwargs.get("numpy_check"):  # the difference itself varies with the machine
            text, printed = text.rsplit("max |difference|", 1)[0], printed.rsplit(
                "max |difference|", 1)[0]
        assert text.strip() == printed.strip(), command
        checked += 1
    assert checked >= 4


def test_explain_from_python_keeps_tensorflow_s_log_lines_off_the_terminal():
    """docs/cells.md's Python form (``from rnnlm.explain import ...``) is quiet as the CLI is:
    a learner took TensorFlow's start-up lines (a failed cuInit) for errors."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                          "ABSL_MIN_LOG_LEVEL")}
    script = ("from rnnlm.explain import explain, format_table; "
              "print(format_table(explain('lstm', 50, (10, 30), return_sequences=True)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0 and "16,200" in done.stdout, done.stderr
    noise = [line for line in done.stderr.splitlines()
             if line[:5] in ("I0000", "W0000", "E0000") or "absl::InitializeLog" in line]
    assert noise == [], done.stderr
