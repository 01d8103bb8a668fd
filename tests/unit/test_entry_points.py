"""The entry-point scan sees what ``importlib.metadata`` sees: a source tree's ``NAME.egg-info``
(``setup.py develop``, ``pip install -e`` with an older setuptools) has no version in its name."""

from __future__ import annotations

from powertrain.entry_points import entry_points


def test_an_egg_info_folder_without_a_version_is_read(tmp_path, monkeypatch):
    info = tmp_path / "my_meter_plugin.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: my-meter-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[powertrain.meters]\nmine = my_meter_plugin:open\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    [point] = [p for p in entry_points("powertrain.meters") if p.name == "mine"]
    assert point.value == "my_meter_plugin:open" and point.package == "my-meter-plugin"
