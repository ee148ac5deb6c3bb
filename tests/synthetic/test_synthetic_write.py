from __future__ import annotations

from tests.synthetic.written import Written


def test_write_returns_the_folder_for_an_apple_folder(written: list[Written]) -> None:
    folders = [w for w in written if w.delivery.kind == "apple_folder"]
    assert folders
    for item in folders:
        assert item.paths == [item.directory]
        assert (item.directory / "clinical-records").is_dir()


def test_write_returns_each_file_for_other_kinds(written: list[Written]) -> None:
    for item in (w for w in written if w.delivery.kind != "apple_folder"):
        assert item.paths == [item.directory / name for name in item.delivery.files]
        assert all(path.is_file() for path in item.paths)


def test_write_puts_the_exact_bytes_on_disk(written: list[Written]) -> None:
    mismatched = [
        str(item.directory / name)
        for item in written
        for name, data in item.delivery.files.items()
        if (item.directory / name).read_bytes() != data
    ]
    assert mismatched == []
