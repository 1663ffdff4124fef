from pathlib import Path

from edgesay.system import threads


def test_other_running_tasks_reads_the_instantaneous_count(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("3.50 2.00 1.00 3/250 12345\n")
    assert threads.other_running_tasks(str(loadavg)) == 2
    loadavg.write_text("garbage")
    assert threads.other_running_tasks(str(loadavg)) == 0


def test_default_threads_is_between_one_and_four() -> None:
    assert 1 <= threads.default_threads() <= min(4, threads.usable_cores())
