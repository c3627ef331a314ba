"""The TLS keys: listener entries, the pair, credentials, and --check-config's verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
from tlspki import Pki

from chatd import cli
from chatd import config as cfg


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chatd.yaml"
    path.write_text(text)
    return str(path)


LISTEN = "listen:\n  - {protocol: line, port: 0}\n  - {protocol: irc, port: 0, tls: true}\n"


def check(path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = cli.main(["--config", path, "--check-config"])
    captured = capsys.readouterr()
    return status, captured.err + captured.out


def test_a_tls_listener_and_its_pair_are_read(tmp_path: Path, pki: Pki) -> None:
    cert, key, _ = pki.pair("server")
    c = cfg.load(write(tmp_path, f"{LISTEN}tls_cert: {cert}\ntls_key: {key}\n"))
    assert c.listeners_tls() == [False, True] and c.uses_tls()
    assert (c.tls_cert, c.tls_key, c.tls_handshake_timeout) == (cert, key, 10)
    assert cfg.Config().listeners_tls() == [False] and not cfg.Config().uses_tls()


def test_a_tls_listener_without_a_certificate_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, LISTEN)
    with pytest.raises(cfg.ConfigError, match=r"listen\[1\]\.tls: needs tls_cert and tls_key"):
        cfg.load(path)


def test_half_a_pair_is_an_error(tmp_path: Path, pki: Pki) -> None:
    cert, _, _ = pki.pair("server")
    with pytest.raises(cfg.ConfigError, match="tls_key: must be given with tls_cert"):
        cfg.load(write(tmp_path, f"tls_cert: {cert}\n"))


def test_tls_must_be_true_or_false(tmp_path: Path) -> None:
    path = write(tmp_path, "listen:\n  - {protocol: line, port: 0, tls: 'yes'}\n")
    with pytest.raises(cfg.ConfigError, match=r"listen\[0\]\.tls: must be true or false"):
        cfg.load(path)


@pytest.mark.parametrize(
    "spoil, key, words",
    [
        ("missing key", "tls_key", "no such file"),
        ("mismatched", "tls_key", "does not match the certificate"),
        ("encrypted", "tls_key", "encrypted"),
        ("not pem", "tls_cert", "not PEM"),
    ],
)
def test_check_config_names_the_key_and_the_file_of_a_bad_pair(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str], spoil: str, key: str, words: str
) -> None:
    cert, key_file, _ = pki.pair("server")
    if spoil == "missing key":
        key_file = str(tmp_path / "gone.key")
    elif spoil == "mismatched":
        key_file = pki.pair("other")[1]
    elif spoil == "encrypted":
        Path(key_file).write_text(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        )
    else:
        Path(cert).write_text("hello\n")
    path = write(tmp_path, f"{LISTEN}tls_cert: {cert}\ntls_key: {key_file}\n")
    status, out = check(path, capsys)
    assert status == cfg.EX_CONFIG
    named = key_file if key == "tls_key" else cert
    assert f"{path}: {key}: {named}: " in out and words in out, out


def test_check_config_accepts_a_good_pair(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key, _ = pki.pair("server")
    status, out = check(write(tmp_path, f"{LISTEN}tls_cert: {cert}\ntls_key: {key}\n"), capsys)
    assert status == 0, out


def test_a_credential_is_read_from_the_credentials_directory(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key, _ = pki.pair("server")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "chatd.key").write_bytes(Path(key).read_bytes())
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    path = write(tmp_path, f"{LISTEN}tls_cert: {cert}\ntls_key: credential:chatd.key\n")
    assert cfg.load(path).tls_key == str(creds / "chatd.key")
    assert check(path, capsys)[0] == 0
    (creds / "chatd.key").unlink()
    status, out = check(path, capsys)
    assert status == cfg.EX_CONFIG and f"tls_key: {creds / 'chatd.key'}: no such file" in out


def test_a_credential_without_systemd_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = write(tmp_path, "tls_cert: credential:c.pem\ntls_key: credential:k.pem\n")
    with pytest.raises(cfg.ConfigError, match=r"tls_cert: .*needs \$CREDENTIALS_DIRECTORY"):
        cfg.load(path)


@pytest.mark.parametrize("name", ["", "../key", "a/b", ".."])
def test_a_credential_is_a_plain_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    path = write(tmp_path, f"tls_cert: 'credential:{name}'\ntls_key: k.pem\n")
    with pytest.raises(cfg.ConfigError, match="tls_cert: .*a credential is a plain file name"):
        cfg.load(path)


def test_worker_twins_of_a_tls_listener_speak_tls_too() -> None:
    from chatd.master import Master
    from chatd.sockets import describe, open_listener, protocol_of, tag, tls_of

    line = tag(open_listener("127.0.0.1", 0, reuse_port=True), "line", tls=True)
    irc = tag(open_listener("127.0.0.1", 0, reuse_port=True), "irc", tls=True)
    plain = open_listener("127.0.0.1", 0, reuse_port=True)
    master = Master(cfg.Config(workers=2), [line, irc, plain], {})
    try:
        twins = master.listeners_for(1)
        assert [(protocol_of(s), tls_of(s)) for s in twins] == [
            ("line", True),
            ("irc", True),
            ("line", False),
        ]
        port = line.getsockname()[1]
        assert describe(twins[0]) == f"127.0.0.1:{port} (tls)"
        assert describe(twins[1]).endswith(" (irc, tls)")
        assert describe(twins[2]).endswith(f":{plain.getsockname()[1]}")
    finally:
        for s in [line, irc, plain, *master.slot_listeners.get(1, [])]:
            s.close()
        master.loop.close()
