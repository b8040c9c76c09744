import pytest

from course_utils.containers import find_docker
from course_utils.containers.stats_fields import stats_placeholders


@pytest.mark.skipif(find_docker() is None, reason="no docker client installed")
def test_the_client_lists_its_stats_placeholders_and_none_is_about_gpus():
    fields = stats_placeholders()
    assert {"Name", "CPUPerc", "MemUsage", "PIDs", "NetIO", "BlockIO"} <= fields
    assert not {f for f in fields if "gpu" in f.lower()}
    assert "MarshalJSON" not in fields


def test_without_a_client_it_says_none(monkeypatch):
    monkeypatch.setattr("course_utils.containers.stats_fields.find_docker", lambda: None)
    assert stats_placeholders() is None


def test_a_binary_without_the_symbols_is_an_error(tmp_path):
    fake = tmp_path / "docker"
    fake.write_bytes(b"\x7fELF nothing here")
    with pytest.raises(RuntimeError, match="stats formatter"):
        stats_placeholders(str(fake))
