"""The text table ``rnnlm explain`` prints: an ``explain`` result (a plain dict) as rows of
layer, what it returns, shape and parameters, then each count's formula and the NumPy check.

Apart from ``explain.py`` because it reads only the result's dict: no Keras, no NumPy.
"""
from __future__ import annotations


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _title(result):
    chain = " → ".join(row["layer"] for row in result["layer_table"])
    flags = [f"{name}={result[name]}" for name in ("return_sequences", "return_state")]
    if result["layers"] > 1:
        flags[0] = "last layer: " + flags[0]
        flags[1] += " (earlier layers return sequences)"
    every = []  # these apply to each layer of a stack, not to the last alone
    if result["bidirectional"]:
        every.append(f"merge_mode={result['merge_mode']}")
    if result["reset_after"] is not None:
        every.append(f"reset_after={result['reset_after']}")
    said = ", ".join(flags + ([] if result["layers"] > 1 else every))
    if every and result["layers"] > 1:
        said += "; every layer: " + ", ".join(every)
    return (f"input {_shape_text(result['input_shape'])} → {chain}\n"
            f"{said}; batch shown as None")


def format_table(result: dict) -> str:
    """A readable text table of an ``explain`` result."""
    header = ("name", "layer", "returns", "shape", "params")
    lines = []
    for row in result["layer_table"]:
        for i, ret in enumerate(row["returns"]):
            first = i == 0
            lines.append((row["name"] if first else "", row["layer"] if first else "",
                          ret["name"], _shape_text(ret["shape"]),
                          f"{row['params']:,}" if first else ""))
    lines.append(("total", "", "", "", f"{result['total_params']:,}"))
    widths = [max(len(r[c]) for r in [header, *lines]) for c in range(len(header))]

    def fmt(r):
        cells = [r[c].ljust(widths[c]) for c in range(4)] + [r[4].rjust(widths[4])]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [_title(result), "", fmt(header), rule, *map(fmt, lines[:-1]), rule, fmt(lines[-1])]
    if len(result["layer_table"]) > 1:  # a stack returns only what its last layer returns
        out += ["", "the model returns: " + ", ".join(
            f"{o['name']} {_shape_text(o['shape'])}" for o in result["model_outputs"])]
    out += ["", "parameters per layer:"]
    name_width = max(len(r["name"]) for r in result["layer_table"])
    for row in result["layer_table"]:
        out.append(f"  {row['name'].ljust(name_width)}  {row['formula_symbolic']}")
        out.append(f"  {'':{name_width}}  = {row['formula']}")
    check = result.get("numpy_check")
    if check:
        verdict = "ok" if check["ok"] else "MISMATCH"
        shape = _shape_text([check["batch"], check["timesteps"], result["input_shape"][2]])
        out += ["", f"rnnlm.reference (NumPy) vs Keras on random input {shape}:",
                f"  max |difference| = {check['max_abs_diff']:.1e}  "
                f"({verdict}, tolerance {check['tolerance']:.0e})"]
    return "\n".join(out)
