"""The benchmark behind `make bench`: chatd against a reference relay in C, ncat --chat and
ngIRCd.  Not part of the chatd package (it does not ship in the wheel); run from the
repository's root as `python -m bench.report`."""
