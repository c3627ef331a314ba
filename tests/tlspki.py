"""Certificates made at test time: a private CA and server pairs signed by it."""

from __future__ import annotations

from pathlib import Path

import trustme
from cryptography import x509

NAME = "chat.test"
NAMES = (NAME, "localhost", "127.0.0.1")


class Pki:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca = trustme.CA()
        self.cafile = str(tmp / "ca.pem")
        self.ca.cert_pem.write_to_path(self.cafile)

    def pair(
        self, tag: str, issuer: trustme.CA | None = None, names: tuple[str, ...] = NAMES
    ) -> tuple[str, str, int]:
        """Writes a cert (with its chain) and key for names; returns the paths and serial."""
        leaf = (issuer or self.ca).issue_cert(*names)
        cert, key = str(self.tmp / f"{tag}.crt"), str(self.tmp / f"{tag}.key")
        with open(cert, "wb") as f:
            for pem in leaf.cert_chain_pems:
                f.write(pem.bytes())
        leaf.private_key_pem.write_to_path(key)
        return cert, key, serial_of(leaf.cert_chain_pems[0].bytes())


def serial_of(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number
