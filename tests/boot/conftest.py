"""The booted-systemd test runs only from `make test-boot` (CHATD_BOOT_TEST=1)."""

import os

if os.environ.get("CHATD_BOOT_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]
