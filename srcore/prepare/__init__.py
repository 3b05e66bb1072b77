"""Prepare BSDS500 training crops and benchmark sets (used by prepare_bsd500.py and by trains.py): `prepare`
builds or confirms the data folder (its docstring gives the output layout and the rebuild rules), `is_prepared`
and `read_manifest` look at an existing build without touching it."""

from srcore.prepare.build import ALLOWED_SCALES, TRAIN_GROUP, VAL_GROUP, center_crop_box, prepare, write_output
from srcore.prepare.fetch import BSR_URL, TARBALL_NAME, check_tarball, download_bsr, extract_tarball
from srcore.prepare.manifest import MANIFEST_FORMAT, MANIFEST_NAME, PREPARE_VERSION, is_prepared, read_manifest
from srcore.prepare.sources import BSD100, SPLITS, find_split_root

__all__ = [
    "ALLOWED_SCALES",
    "BSD100",
    "BSR_URL",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "PREPARE_VERSION",
    "SPLITS",
    "TARBALL_NAME",
    "TRAIN_GROUP",
    "VAL_GROUP",
    "center_crop_box",
    "check_tarball",
    "download_bsr",
    "extract_tarball",
    "find_split_root",
    "is_prepared",
    "prepare",
    "read_manifest",
    "write_output",
]
