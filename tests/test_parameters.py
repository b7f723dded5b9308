from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb.errors import (
    NotebookFormatError,
    ParametersFileError,
    ParameterTypeError,
    UnknownParameterError,
)
from netdebug_nb.parameters import Parameter, convert, parse_cell, read_file, validate

CELL = """
pcap: str = ""  # capture file
top_n: int = 10  # rows in tables
loss_pct: float = 1.5  # threshold
mtr: bool = True  # run mtr too
targets: list[str] = []  # names or IPs
extra: dict = {"a": 1}
untyped = 3  # inferred from the default
"""


def test_parse_cell_reads_names_types_defaults_and_help() -> None:
    params = {p.name: p for p in parse_cell(CELL)}
    assert list(params) == ["pcap", "top_n", "loss_pct", "mtr", "targets", "extra", "untyped"]
    assert params["top_n"] == Parameter("top_n", "int", 10, "rows in tables")
    assert params["targets"].type == "list" and params["targets"].default == []
    assert params["extra"].help == "" and params["extra"].type == "dict"
    assert params["untyped"].type == "int"


def test_help_comment_of_a_wrapped_statement() -> None:
    wrapped = "timeout_ms: int = (\n    0  # how long to wait for each reply\n)\nnext_one: int = 1  # next\n"
    assert [(p.name, p.default, p.help) for p in parse_cell(wrapped)] == [
        ("timeout_ms", 0, "how long to wait for each reply"),
        ("next_one", 1, "next"),
    ]


def test_parse_cell_rejects_invalid_python_and_non_literals() -> None:
    with pytest.raises(NotebookFormatError, match="not valid Python"):
        parse_cell("x: int = (")
    with pytest.raises(NotebookFormatError, match="must be a literal"):
        parse_cell("x: int = os.getpid()")


@pytest.mark.parametrize(
    ("ptype", "text", "value"),
    [
        ("int", "42", 42),
        ("int", "0x10", 16),
        ("float", "2.5", 2.5),
        ("bool", "yes", True),
        ("bool", "off", False),
        ("list", "a, b,c", ["a", "b", "c"]),
        ("list", '["x", 1]', ["x", 1]),
        ("dict", '{"k": 2}', {"k": 2}),
        ("str", "  spaced ", "  spaced "),
    ],
)
def test_convert_text(ptype: str, text: str, value: object) -> None:
    assert convert(Parameter("p", ptype, None, ""), text) == value


@pytest.mark.parametrize(
    ("ptype", "value"), [("int", "ten"), ("float", "x"), ("bool", "maybe"), ("dict", "[1]")]
)
def test_convert_rejects_wrong_text(ptype: str, value: str) -> None:
    with pytest.raises(ParameterTypeError) as err:
        convert(Parameter("p", ptype, None, ""), value)
    assert "'p'" in str(err.value) and ptype in str(err.value)


@pytest.mark.parametrize(
    ("ptype", "value"), [("int", True), ("int", 1.5), ("list", 5), ("bool", 1), ("str", [1])]
)
def test_convert_rejects_wrong_yaml_values(ptype: str, value: object) -> None:
    with pytest.raises(ParameterTypeError):
        convert(Parameter("p", ptype, None, ""), value)


def test_validate_names_valid_parameters_for_unknown() -> None:
    declared = parse_cell(CELL)
    with pytest.raises(UnknownParameterError) as err:
        validate(declared, {"top": "3"}, notebook="pcap_analysis")
    assert "top_n" in str(err.value) and "pcap_analysis" in str(err.value)
    assert validate(declared, {"top_n": "3", "mtr": False}, notebook="x") == {"top_n": 3, "mtr": False}


def test_read_file(tmp_path: Path) -> None:
    good = tmp_path / "p.yaml"
    good.write_text("top_n: 5\ntargets: [a, b]\n")
    assert read_file(str(good)) == {"top_n": 5, "targets": ["a", "b"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ParametersFileError, match=r"bad.yaml: not valid YAML at line"):
        read_file(str(bad))
    seq = tmp_path / "seq.yaml"
    seq.write_text("- 1\n- 2\n")
    with pytest.raises(ParametersFileError, match="must be a mapping"):
        read_file(str(seq))
    with pytest.raises(ParametersFileError, match="No such file"):
        read_file(str(tmp_path / "missing.yaml"))
