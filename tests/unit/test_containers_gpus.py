"""The --gpus value: our builder, our mirror of docker's parser, and the real docker client."""

import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils.containers import (
    DaemonWouldReject,
    GpusParseError,
    check_command,
    driver_capabilities,
    find_docker,
    gpus_value,
    parse_gpus_value,
    visible_devices,
)
from course_utils.containers.check import ACCEPTED, PARSE_ERROR
from course_utils.containers.gocsv import CsvError, read_record, write_record

needs_docker = pytest.mark.skipif(find_docker() is None, reason="no docker client installed to compare with")
TUTORIAL_FORM = "all,capabilities=compute,utility"


def test_the_tutorials_capabilities_form_does_not_parse():
    with pytest.raises(GpusParseError, match=r"invalid count \(utility\)"):
        parse_gpus_value(TUTORIAL_FORM)


def test_the_quoted_capabilities_form_selects_all_gpus_with_compute_and_utility():
    request = parse_gpus_value('all,"capabilities=compute,utility"')
    assert request.count == -1
    assert visible_devices(request) == "all"
    assert driver_capabilities(request) == "compute,utility"


@pytest.mark.parametrize(
    ("value", "devices"),
    [
        ("all", "all"),
        ("2", "0,1"),  # a count: the first two GPUs
        ("0", "void"),  # zero GPUs, not GPU 0
        ('"device=0,1"', "0,1"),
        ("device=1", "1"),
        ('"device=0:1"', "0:1"),  # MIG device 1 of GPU 0
        ("count=all", "all"),
    ],
)
def test_what_each_form_selects(value, devices):
    assert visible_devices(parse_gpus_value(value)) == devices


def test_unquoted_device_list_parses_but_the_daemon_refuses_it():
    request = parse_gpus_value("device=0,1")  # CSV: "device=0" and a bare count "1"
    assert request.device_ids == ("0",) and request.count == 1
    with pytest.raises(DaemonWouldReject, match="both Count and DeviceIDs"):
        visible_devices(request)


def test_an_unknown_capability_is_refused_by_the_daemon_not_the_client():
    with pytest.raises(DaemonWouldReject, match="capabilities"):
        visible_devices(parse_gpus_value('all,"capabilities=compute,all"'))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "EOF"),
        ("foo", "invalid count"),
        ("count=x", "invalid count"),
        ("all,all", "only once"),
        ("all,count=2", "only once"),
        ("foo=bar", "unexpected key 'foo'"),
        ('a"b', "bare"),
        ('"a"b', "extraneous"),
        ('all,"capa', "extraneous"),
        ("99999999999999999999", "out of range"),
    ],
)
def test_malformed_values_are_rejected_with_dockers_reason(value, message):
    with pytest.raises(GpusParseError, match=message):
        parse_gpus_value(value)


@pytest.mark.parametrize(
    ("kwargs", "value"),
    [
        ({}, "all"),
        ({"gpus": 2}, "2"),
        ({"gpus": [0, 1]}, '"device=0,1"'),
        ({"gpus": [3]}, "device=3"),
        ({"gpus": ["0:1", "1:0"]}, '"device=0:1,1:0"'),
        ({"gpus": ["GPU-1b2c3d4e-aaaa-bbbb-cccc-0123456789ab"]}, "device=GPU-1b2c3d4e-aaaa-bbbb-cccc-0123456789ab"),
        ({"capabilities": ["compute", "utility"]}, 'all,"capabilities=compute,utility"'),
        ({"capabilities": "compute,utility"}, 'all,"capabilities=compute,utility"'),
        ({"gpus": [0, 1], "capabilities": ["compute"]}, '"device=0,1",capabilities=compute'),
    ],
)
def test_builder_output(kwargs, value):
    assert gpus_value(**kwargs) == value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gpus": 0}, "docker reads `--gpus 0` as \\*no\\*"),
        ({"gpus": -1}, "at least 1"),
        ({"gpus": "0"}, "use 'all'"),
        ({"gpus": "0,1"}, "use 'all'"),
        ({"gpus": []}, "empty"),
        ({"gpus": [0, 0]}, "twice"),
        ({"gpus": [-1]}, "not a GPU"),
        ({"gpus": ["0,1"]}, "not a GPU"),
        ({"gpus": [True]}, "a GPU is an index"),
        ({"gpus": [1.5]}, "a GPU is an index"),
        ({"capabilities": ["all"]}, "unknown driver capabilities"),
        ({"capabilities": ["gpu"]}, "unknown driver capabilities"),
        ({"capabilities": []}, "empty"),
    ],
)
def test_builder_refuses_bad_input_with_a_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gpus_value(**kwargs)


devices = st.lists(
    st.one_of(st.integers(0, 15), st.tuples(st.integers(0, 7), st.integers(0, 6)).map(lambda t: f"{t[0]}:{t[1]}")),
    min_size=1,
    max_size=4,
    unique_by=str,
)
caps = st.none() | st.lists(
    st.sampled_from(["compute", "utility", "graphics", "video"]), min_size=1, max_size=3, unique=True
)


@given(gpus=st.one_of(st.just("all"), st.integers(1, 8), devices), capabilities=caps)
def test_every_built_value_parses_back_to_what_was_asked(gpus, capabilities):
    request = parse_gpus_value(gpus_value(gpus, capabilities))
    want = (
        "all"
        if gpus == "all"
        else (",".join(map(str, range(gpus))) if isinstance(gpus, int) else ",".join(map(str, gpus)))
    )
    assert visible_devices(request) == want
    assert driver_capabilities(request) == (",".join(capabilities) if capabilities else None)


@given(st.lists(st.text(alphabet='ab,"= \n', max_size=6), min_size=1, max_size=4))
def test_go_csv_round_trip(fields):
    if fields == [""]:
        return  # one empty field is an empty line, which Go reads as "no record"
    assert read_record(write_record(fields)) == fields


def test_go_csv_skips_leading_empty_lines_and_reads_one_record():
    assert read_record("\n\nall,2\nignored") == ["all", "2"]
    with pytest.raises(CsvError, match="EOF"):
        read_record("\n")


# --- the same values through the real docker client -------------------------------------------
TOKENS = [
    "all",
    "2",
    "0",
    "-1",
    "x",
    "device=0",
    "device=0,1",
    '"device=0,1"',
    '"device=0:1"',
    "count=2",
    "count=all",
    "capabilities=compute",
    '"capabilities=compute,utility"',
    "driver=nvidia",
    "foo=bar",
    '"options=a=b"',
    '"',
    '""',
    "",
    "=",
    " all",
    "utility",
    '"all"',
    '"a"b',
]


def _client_parses(value: str) -> bool:
    result = check_command(["docker", "run", "--rm", "--gpus", value, "ubuntu:24.04", "true"])
    assert result.status in (ACCEPTED, PARSE_ERROR), result
    return result.status == ACCEPTED


def _mirror_parses(value: str) -> bool:
    try:
        parse_gpus_value(value)
    except GpusParseError:
        return False
    return True


@needs_docker
@pytest.mark.parametrize(
    "value",
    ["all", "2", TUTORIAL_FORM, 'all,"capabilities=compute,utility"', "device=0,1", '"device=0,1"', "foo", "", 'a"b'],
)
def test_mirror_agrees_with_the_real_client(value):
    assert _mirror_parses(value) == _client_parses(value), value


@needs_docker
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4).map(",".join))
def test_mirror_agrees_with_the_real_client_on_generated_values(value):
    assert _mirror_parses(value) == _client_parses(value), value


@needs_docker
@given(gpus=st.one_of(st.just("all"), st.integers(1, 8), devices), capabilities=caps)
@settings(max_examples=40, deadline=None)
def test_the_real_client_accepts_every_built_value_after_the_shell_splits_it(gpus, capabilities):
    line = "docker run --rm --gpus " + shlex.quote(gpus_value(gpus, capabilities)) + " ubuntu:24.04 true"
    assert check_command(line).status == ACCEPTED, line
