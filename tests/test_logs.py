"""Log-file trouble in memory: a failing file costs log lines, never the server."""

from __future__ import annotations

import errno
import logging
import os

import pytest

from chatd import logs

log = logging.getLogger("chatd.test")


@pytest.fixture(autouse=True)
def chatd_logger():
    """logs.setup takes over the 'chatd' logger; give it back as it was."""
    logger = logging.getLogger(logs.LOGGER)
    saved = logger.handlers[:], logger.level, logger.propagate
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.level, logger.propagate = saved
    logs.forget()


def warnings_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if "WARNING" in line and "log file" in line]


def test_a_full_disk_is_said_once_and_no_record_raises_or_prints_a_traceback(capsys):
    logs.setup("info", "/dev/full")  # every write: ENOSPC
    for i in range(20):
        log.info("line %d", i)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    (warning,) = warnings_in(err)
    assert "/dev/full" in warning and "No space left on device" in warning


def test_writes_that_work_again_say_how_many_lines_were_lost(tmp_path, capsys, monkeypatch):
    path = tmp_path / "chatd.log"
    logs.setup("info", str(path))
    real_write = os.write
    monkeypatch.setattr(logs.os, "write", _raising(errno.ENOSPC))
    for i in range(3):
        log.info("lost %d", i)
    monkeypatch.setattr(logs.os, "write", real_write)
    log.info("kept")
    text = path.read_text()
    assert "lost 0" not in text and "kept" in text
    assert "writable again; 3 lines were lost" in text
    assert len(warnings_in(capsys.readouterr().err)) == 1


def test_reopen_after_the_directory_was_removed_keeps_the_old_file(tmp_path, capsys):
    folder = tmp_path / "logs"
    folder.mkdir()
    path = folder / "chatd.log"
    handler = logs.setup("info", str(path))
    log.info("before")
    keep = os.open(path, os.O_RDONLY)  # to read what goes to the removed file
    try:
        path.unlink()
        folder.rmdir()
        assert logs.reopen() is False
        for i in range(10):  # each record would try to follow the file again
            log.info("after %d", i)
        assert handler in logging.getLogger(logs.LOGGER).handlers
        written = os.pread(keep, 1 << 16, 0).decode()
    finally:
        os.close(keep)
    assert "before" in written and "after 9" in written
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    (warning,) = warnings_in(err)
    assert f"cannot reopen log file {path}" in warning and "No such file or directory" in warning
    assert len(warnings_in(written)) == 1  # the log being read says why it goes on


def test_a_permission_error_on_reopen_keeps_the_old_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "chatd.log"
    logs.setup("info", str(path))
    path.rename(tmp_path / "chatd.log.1")
    monkeypatch.setattr(logs.os, "open", _raising(errno.EACCES))
    assert logs.reopen() is False
    log.info("still logged")
    assert "still logged" in (tmp_path / "chatd.log.1").read_text()
    (warning,) = warnings_in(capsys.readouterr().err)
    assert "Permission denied" in warning


def test_reopen_moves_to_the_new_file_and_trouble_is_said_again_after_a_recovery(tmp_path, capsys):
    path = tmp_path / "chatd.log"
    logs.setup("info", str(path))
    path.rename(tmp_path / "old")
    assert logs.reopen() is True
    log.info("new")
    assert "new" in path.read_text() and "new" not in (tmp_path / "old").read_text()
    path.unlink()
    path.mkdir()  # the next reopen cannot open a directory for writing
    assert logs.reopen() is False
    path.rmdir()
    assert logs.reopen() is True
    path.unlink()
    path.mkdir()
    assert logs.reopen() is False
    assert len(warnings_in(capsys.readouterr().err)) == 2


def test_use_of_a_log_file_in_a_missing_directory_keeps_the_old_handler(tmp_path, capsys):
    path = tmp_path / "chatd.log"
    handler = logs.setup("info", str(path))
    missing = tmp_path / "nowhere" / "chatd.log"
    assert logs.use("debug", str(missing)) is False
    log.debug("still here, at the new level")
    assert logging.getLogger(logs.LOGGER).handlers == [handler]
    text = path.read_text()
    assert "still here" in text
    (warning,) = warnings_in(text)
    assert f"cannot open log file {missing}" in warning and f"logs stay in {path}" in warning
    assert warnings_in(capsys.readouterr().err) == [warning]  # on standard error as well
    assert logs.current_path() == str(path)
    assert logs.use("info", str(tmp_path / "next.log")) is True
    log.info("moved")
    assert "moved" in (tmp_path / "next.log").read_text() and "moved" not in path.read_text()


def test_use_of_the_same_file_reopens_it(tmp_path):
    path = tmp_path / "chatd.log"
    logs.setup("info", str(path))
    path.rename(tmp_path / "chatd.log.1")
    assert logs.use("info", str(path)) is True
    assert path.exists()  # reopened now, before any record
    log.info("after")
    assert "after" in path.read_text()


def test_use_is_nothing_when_chatd_does_not_own_the_logging():
    before = logging.getLogger(logs.LOGGER).handlers[:]
    assert logs.use("error", "/nonexistent/x.log") is True
    assert logging.getLogger(logs.LOGGER).handlers == before


def test_a_broken_standard_error_prints_no_traceback_per_record(capsys):
    handler = logs.setup("info", None)
    handler.setStream(Broken())  # type: ignore[attr-defined]
    for i in range(5):
        log.info("line %d", i)
    assert capsys.readouterr().err == ""


def test_open_streams_are_the_log_file_for_a_daemon(tmp_path):
    path = tmp_path / "chatd.log"
    logs.setup("info", str(path))
    (stream,) = logs.open_streams()
    assert os.path.samefile(f"/proc/self/fd/{stream.fileno()}", path)


def test_setup_of_an_unopenable_file_raises_for_the_start_up_error(tmp_path):
    with pytest.raises(OSError):
        logs.setup("info", str(tmp_path / "missing" / "chatd.log"))


class Broken:
    def write(self, text: str) -> int:
        raise OSError(errno.EIO, "Input/output error")

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


def _raising(code: int):
    def fail(*args: object, **kwargs: object) -> int:
        raise OSError(code, os.strerror(code))

    return fail
