"""File helpers and value checks: an output that cannot be written is refused before the work
and leaves nothing behind; an input of the wrong kind is named for what it is."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openhmr.checks import check_count, check_number, check_output_file, check_output_folder
from openhmr.data.records import index_path
from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path, describe_file, read_npz, write_npz


def test_atomic_path_refuses_folders_and_paths_under_files(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(OpenHMRError, match="dir is a folder; expected a file path"),
        atomic_path(tmp_path / "dir"),
    ):
        raise AssertionError("the work must not start")
    with pytest.raises(OpenHMRError, match="file is a file, not a folder"):
        write_npz(tmp_path / "file" / "sub" / "a.npz", {"a": np.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]
    assert list((tmp_path / "dir").iterdir()) == []


def test_atomic_path_removes_the_folders_it_made_when_the_work_fails(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and [p.name for p in target.parent.iterdir()] == [
        "out.txt"
    ]


def test_describe_file_names_common_kinds(tmp_path):
    kinds = {
        "a.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
        "a.png": b"\x89PNG\r\n\x1a\n",
        "a.zip": b"PK\x03\x04rest",
        "a.pkl": b"\x80\x04\x95",
        "a.not-pkl": b"\x80\x00\xff\xfe",
        "a.txt": "näive text\n".encode(),
        "a.bin": bytes(range(128, 256)) * 2,
        "empty": b"",
    }
    for name, data in kinds.items():
        (tmp_path / name).write_bytes(data)
    assert {name: describe_file(tmp_path / name) for name in kinds} == {
        "a.jpg": "a JPEG image",
        "a.png": "a PNG image",
        "a.zip": "a zip archive",
        "a.pkl": "a Python pickle",
        "a.not-pkl": "a binary file of an unknown kind",
        "a.txt": "a text file",
        "a.bin": "a binary file of an unknown kind",
        "empty": "an empty file",
    }
    assert describe_file(tmp_path) == "a folder"


def test_read_npz_says_what_the_file_is(tmp_path):
    (tmp_path / "photo.npz").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    with pytest.raises(OpenHMRError, match=r"expected a record index \(.npz\), found a JPEG"):
        read_npz(tmp_path / "photo.npz", "record index")
    np.savez(tmp_path / "objects.npz", a=np.array([None, 1], dtype=object))
    with pytest.raises(OpenHMRError, match=r"holds Python objects \(object arrays\)") as info:
        read_npz(tmp_path / "objects.npz", "pose set")
    assert "allow_pickle" not in str(info.value)  # no advice to load it unsafely
    write_npz(tmp_path / "good.npz", {"a": np.arange(3)})
    np.testing.assert_array_equal(read_npz(tmp_path / "good.npz")["a"], np.arange(3))


def test_index_path_takes_the_folder_holding_one_index(tmp_path):
    assert index_path(tmp_path / "x.npz") == tmp_path / "x.npz"  # files pass through
    with pytest.raises(OpenHMRError, match="expected a record index"):
        index_path(tmp_path)
    (tmp_path / "synth.npz").write_bytes(b"")
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "0000000.npz").write_bytes(b"")  # not directly inside
    assert index_path(tmp_path) == tmp_path / "synth.npz"
    (tmp_path / "other.npz").write_bytes(b"")
    with pytest.raises(OpenHMRError, match=r"several record indexes \(other.npz, synth.npz\)"):
        index_path(tmp_path)


def test_value_checks():
    assert check_number("x", 0.5, minimum=0, below=1) == 0.5
    for bad in (1.0, -0.1, math.nan, math.inf, True, "0.5"):
        with pytest.raises(OpenHMRError, match=r"x: expected a number in \[0, 1\)"):
            check_number("x", bad, minimum=0, below=1)
    with pytest.raises(OpenHMRError, match="y: expected a number > 0, got 0"):
        check_number("y", 0, above=0)
    with pytest.raises(OpenHMRError, match="z: expected a finite number, got nan"):
        check_number("z", math.nan)
    assert check_count("n", 0, minimum=0) == 0
    for bad in (-1, 2.0, True):
        with pytest.raises(OpenHMRError, match="n: expected an integer ≥ 0"):
            check_count("n", bad, minimum=0)


def test_output_checks(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_output_file("--out", tmp_path / "new" / "a.OBJ", (".obj", ".ply"))
    with pytest.raises(OpenHMRError, match=r"--out: expected a file name ending in \.obj or \.ply"):
        check_output_file("--out", tmp_path / "a.stl", (".obj", ".ply"))
    with pytest.raises(OpenHMRError, match="is a folder"):
        check_output_file("--out", tmp_path)
    assert check_output_folder("--out", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    with pytest.raises(OpenHMRError, match=r"--out: expected a folder, but .*file is a file"):
        check_output_folder("--out", tmp_path / "file" / "deeper")
