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


# --- declared domains ----------------------------------------------------------------------

DOMAINS = """
count: int = 20  # probes per target {1..100000}
bucket_s: float = 10.0  # bucket width {>0}
ratio: float = 0.5  # a share {0..1}
big: int = 5  # at least one {1..}
proto: str = "tcp"  # protocol {tcp|udp|sctp}
pcap: str = ""  # capture file {capture?}
snap: str = ""  # snapshot {dir?}
conf: str = "/etc/hostname"  # must exist {file}
ports: list = []  # ports {port}
sizes: list = []  # sizes {0..65507}
hosts: list = []  # hosts {host}
iface: str = ""  # interface {interface?}
out: str = ""  # where to write {outfile?}
manifest: str = ""  # manifests {yaml?}
flag: bool = True  # no domain for booleans
"""


def _err(declared: list[Parameter], given: dict[str, object], search: list[Path] | None = None) -> str:
    from netdebug_nb.errors import ParameterError

    with pytest.raises(ParameterError) as exc:
        validate(declared, given, notebook="nb", search=search)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_domain_is_parsed_from_the_end_of_the_help_comment() -> None:
    params = {p.name: p for p in parse_cell(DOMAINS)}
    assert params["count"].help == "probes per target" and params["count"].domain is not None
    assert params["count"].domain.describe() == "in 1..100000"
    assert params["bucket_s"].domain.describe() == "> 0"  # type: ignore[union-attr]
    assert params["big"].domain.describe() == ">= 1"  # type: ignore[union-attr]
    assert params["proto"].domain.describe() == "one of tcp, udp, sctp"  # type: ignore[union-attr]
    assert params["pcap"].domain.describe() == "a capture file, or empty"  # type: ignore[union-attr]
    assert params["flag"].domain is None and params["flag"].help == "no domain for booleans"
    assert params["count"].to_dict()["domain"] == "1..100000"


@pytest.mark.parametrize("bad", ["1..0", ">", "capturez", "a||b", "..x"])
def test_a_domain_typo_is_a_notebook_error(bad: str) -> None:
    with pytest.raises(NotebookFormatError, match="domain of 'x'"):
        parse_cell(f'x: str = ""  # help {{{bad}}}')


def test_numbers_outside_their_range_name_notebook_parameter_value_and_domain() -> None:
    d = parse_cell(DOMAINS)
    assert _err(d, {"count": "-5"}) == "parameter 'count' of nb: -5 is not in 1..100000"
    assert _err(d, {"count": "100001"}) == "parameter 'count' of nb: 100001 is not in 1..100000"
    assert _err(d, {"count": "10s"}) == "parameter 'count' of nb: '10s' is not an integer (in 1..100000)"
    assert _err(d, {"bucket_s": "0"}) == "parameter 'bucket_s' of nb: 0 is not > 0"
    assert _err(d, {"bucket_s": "nan"}) == "parameter 'bucket_s' of nb: nan is not > 0"
    assert _err(d, {"ratio": "1.5"}) == "parameter 'ratio' of nb: 1.5 is not in 0..1"
    assert _err(d, {"sizes": "[56, -1]"}) == "parameter 'sizes' of nb: -1 (item 2) is not in 0..65507"
    assert validate(d, {"sizes": "56,1200"}, notebook="nb") == {"sizes": [56, 1200]}  # -p items are text
    assert _err(d, {"sizes": "56,x"}) == "parameter 'sizes' of nb: 'x' (item 2) is not a number (in 0..65507)"
    assert validate(
        d, {"count": "1", "bucket_s": "0.001", "ratio": 1, "sizes": "[0, 65507]"}, notebook="nb"
    ) == {
        "count": 1,
        "bucket_s": 0.001,
        "ratio": 1.0,
        "sizes": [0, 65507],
    }


def test_choices_and_words() -> None:
    d = parse_cell(DOMAINS)
    assert _err(d, {"proto": "icmp"}) == "parameter 'proto' of nb: 'icmp' is not one of tcp, udp, sctp"
    assert _err(d, {"ports": "80,http"}).startswith("parameter 'ports' of nb: 'http' (item 2) is not a port")
    assert "ports are 1..65535" in _err(d, {"ports": "65536"})
    assert _err(d, {"hosts": "ok.example, bad host"}) == (
        "parameter 'hosts' of nb: 'bad host' (item 2) is not a host name or IP address"
    )
    assert "is not an interface name" in _err(d, {"iface": "a/b"})
    ok = validate(
        d,
        {"ports": "80,tcp/443,udp/53,53/udp", "hosts": "10.0.0.1,::1,db.prod", "iface": "eth0"},
        notebook="nb",
    )
    assert ok["ports"] == ["80", "tcp/443", "udp/53", "53/udp"]


def test_defaults_are_checked_too(tmp_path: Path) -> None:
    d = parse_cell('conf: str = "/no/such/resolv.conf"  # resolv.conf {file}\n')
    assert _err(d, {}, search=[tmp_path]) == (
        "parameter 'conf' of nb: /no/such/resolv.conf does not exist; expected a file"
    )


def test_input_paths_must_exist_be_of_their_kind_and_readable(tmp_path: Path) -> None:
    d = parse_cell(DOMAINS)
    s = [tmp_path]
    (tmp_path / "folder").mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    (tmp_path / "empty.pcap").write_bytes(b"")
    assert _err(d, {"pcap": str(tmp_path / "nope.pcap")}, s) == (
        f"parameter 'pcap' of nb: {tmp_path / 'nope.pcap'} does not exist; expected a capture file"
    )
    assert _err(d, {"pcap": str(tmp_path / "folder")}, s) == (
        f"parameter 'pcap' of nb: {tmp_path / 'folder'} is a directory; expected a capture file"
    )
    assert _err(d, {"pcap": str(text)}, s).endswith(
        "is not a capture file (pcap, pcapng, or either gzip-compressed)"
    )
    assert _err(d, {"pcap": str(tmp_path / "empty.pcap")}, s).endswith("is empty; expected a capture file")
    assert _err(d, {"snap": str(text)}, s).endswith("is not a directory; expected a directory")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    assert _err(d, {"manifest": str(tmp_path / "bad.yaml")}, s).endswith("is not valid YAML at line 2")
    assert _err(d, {"out": str(tmp_path / "missing-dir" / "x.pcap")}, s).endswith(
        f"cannot be written: {tmp_path / 'missing-dir'} does not exist"
    )
    from netdebug_nb.catalogue import DATA_DIR

    cap = DATA_DIR / "pcap" / "sample.pcap"
    got = validate(
        d, {"pcap": str(cap), "snap": str(tmp_path / "folder"), "out": "x.pcap"}, notebook="nb", search=s
    )
    assert got["pcap"] == str(cap) and got["out"] == str(Path.cwd() / "x.pcap")
    # without search directories (a fleet run names files on the nodes) only the form is checked
    assert validate(d, {"pcap": "/on/the/node.pcap"}, notebook="nb")["pcap"] == "/on/the/node.pcap"


def test_relative_input_paths_cwd_first_then_the_notebooks_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdebug_nb.catalogue import DATA_DIR
    from netdebug_nb.parameters import NOTEBOOK_DIR_ENV, search_dirs

    cwd, nbdir = tmp_path / "cwd", tmp_path / "notebooks"
    cwd.mkdir()
    nbdir.mkdir()
    sample = (DATA_DIR / "pcap" / "sample.pcap").read_bytes()
    (nbdir / "up.pcap").write_bytes(sample)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(NOTEBOOK_DIR_ENV, str(nbdir))
    assert search_dirs() == [cwd, nbdir]
    d = parse_cell(DOMAINS)
    assert validate(d, {"pcap": "up.pcap"}, notebook="nb", search=search_dirs())["pcap"] == str(
        nbdir / "up.pcap"
    )
    (cwd / "up.pcap").write_bytes(sample)  # the same name in the cwd wins
    assert validate(d, {"pcap": "up.pcap"}, notebook="nb", search=search_dirs())["pcap"] == str(
        cwd / "up.pcap"
    )
    monkeypatch.delenv(NOTEBOOK_DIR_ENV)
    assert search_dirs(tmp_path / "elsewhere" / "x.ipynb") == [cwd, tmp_path / "elsewhere"]
    assert _err(d, {"pcap": "gone.pcap"}, search_dirs(nbdir / "x.ipynb")) == (
        f"parameter 'pcap' of nb: gone.pcap does not exist (looked in {cwd}, {nbdir}); expected a capture file"
    )


def test_check_is_the_same_check_inside_the_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the cell after the parameters runs in JupyterLab: same message, values normalised in place."""
    from netdebug_nb.catalogue import DATA_DIR
    from netdebug_nb.errors import ParameterDomainError
    from netdebug_nb.parameters import check

    monkeypatch.chdir(tmp_path)
    (tmp_path / "upload.pcap").write_bytes((DATA_DIR / "pcap" / "sample.pcap").read_bytes())
    ns: dict[str, object] = {"pcap": "upload.pcap", "top_n": "5", "unrelated": object()}
    check("pcap_analysis", ns)
    assert ns["pcap"] == str(tmp_path / "upload.pcap") and ns["top_n"] == 5
    with pytest.raises(ParameterDomainError) as exc:
        check("latency", {"count": -5})
    assert str(exc.value) == "parameter 'count' of latency: -5 is not in 1..100000"
    assert exc.value._render_traceback_() == [
        "\x1b[0;31mParameterDomainError\x1b[0m: parameter 'count' of latency: -5 is not in 1..100000"
    ]
