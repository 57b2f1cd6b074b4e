from pathlib import Path

from engine.diagnostics import Origin
from engine.spec.document import load_spec


def write(root: Path, files: dict[str, str]) -> None:
    (root / "nmspec.toml").write_text("")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


BASE = """apiVersion: nmspec/v1
kind: SiteBase
sensor: {part: lis2dw12, odr: 1.6kHz, range: 4g}
preprocessing:
  - dc_block: {cutoff: 2Hz}
  - id: mains
    notch: {freq: 50Hz, harmonics: 3}
  - encode: {kind: delta}
power:
  battery: {cell: er14505, lifetime: 10y, overrides: {capacity: 2.6Ah}}
"""


def test_maps_merge_scalars_replace_stages_merge_by_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "base/b.yaml": BASE,
        "sites/s.yaml": """apiVersion: nmspec/v1
kind: SiteDeployment
extends: ../base/b.yaml
sensor: {odr: 800Hz}
preprocessing:
  - id: mains
    notch: {freq: 60Hz}
  - $delete: dc_block
  - lowpass: {cutoff: 100Hz}
power:
  battery: {overrides: $delete}
""",
    })
    doc, diagnostics = load_spec("sites/s.yaml")
    assert diagnostics == []
    assert doc.data == {
        "apiVersion": "nmspec/v1",
        "kind": "SiteDeployment",
        "sensor": {"part": "lis2dw12", "odr": "800Hz", "range": "4g"},
        "preprocessing": [
            {"id": "mains", "notch": {"freq": "60Hz", "harmonics": 3}},
            {"encode": {"kind": "delta"}},
            {"lowpass": {"cutoff": "100Hz"}},
        ],
        "power": {"battery": {"cell": "er14505", "lifetime": "10y"}},
    }
    # each value remembers the file and line that set it, and how it got here
    assert doc.origin("/sensor/odr") == Origin("sites/s.yaml", 4, 15)
    assert doc.chain("/sensor/odr") == ()
    assert doc.origin("/sensor/part") == Origin("base/b.yaml", 3, 16)
    assert doc.chain("/sensor/part") == ("sites/s.yaml:3:10",)
    assert doc.origin("/preprocessing/0/notch/freq") == Origin("sites/s.yaml", 7, 19)
    assert doc.origin("/preprocessing/0/notch/harmonics") == Origin("base/b.yaml", 7, 36)
    assert doc.origin("/preprocessing/2/lowpass/cutoff") == Origin("sites/s.yaml", 9, 23)
    assert doc.origin("/preprocessing/1/encode/kind") == Origin("base/b.yaml", 8, 20)
    assert doc.files == ("sites/s.yaml", "base/b.yaml")


def test_several_bases_merge_in_order_and_chains_nest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "a.yaml": "apiVersion: nmspec/v1\nkind: SiteBase\nsensor: {part: lis2dw12, odr: 1Hz}\n",
        "b.yaml": "apiVersion: nmspec/v1\nkind: SiteBase\nextends: a.yaml\nsensor: {odr: 2Hz}\n",
        "c.yaml": "apiVersion: nmspec/v1\nkind: SiteBase\nsensor: {odr: 3Hz, range: 2g}\n",
        "s.yaml": "apiVersion: nmspec/v1\nkind: SiteDeployment\nextends: [b.yaml, c.yaml]\n",
    })
    doc, diagnostics = load_spec("s.yaml")
    assert diagnostics == []
    assert doc.data["sensor"] == {"part": "lis2dw12", "odr": "3Hz", "range": "2g"}
    assert doc.chain("/sensor/part") == ("s.yaml:3:11", "b.yaml:3:10")
    assert doc.chain("/sensor/odr") == ("s.yaml:3:19",)


def test_paths_resolve_from_the_declaring_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "base/b.yaml": "apiVersion: nmspec/v1\nkind: SiteBase\nmodel: {source: models/m.nir}\n",
        "base/models/m.nir": "",
        "s.yaml": "apiVersion: nmspec/v1\nkind: SiteDeployment\nextends: base/b.yaml\n",
    })
    doc, _ = load_spec("s.yaml")
    assert doc.resolve_path("/model/source", doc.data["model"]["source"]) == (tmp_path / "base/models/m.nir").resolve()


def test_cycle_shows_the_chain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "a.yaml": "apiVersion: nmspec/v1\nkind: SiteBase\nextends: b.yaml\n",
        "b.yaml": "apiVersion: nmspec/v1\nkind: SiteBase\nextends: a.yaml\n",
    })
    doc, (diagnostic,) = load_spec("a.yaml")
    assert doc is None
    assert diagnostic.message == "extends: cycle: a.yaml -> b.yaml -> a.yaml"
    assert (diagnostic.file, diagnostic.line, diagnostic.chain) == ("b.yaml", 3, ("a.yaml:3:10",))


def test_escaping_the_repository_is_an_error_even_via_symlinks(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "outside.yaml").write_text("apiVersion: nmspec/v1\nkind: SiteBase\n")
    (repo / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    monkeypatch.chdir(repo)
    write(repo, {"s.yaml": "apiVersion: nmspec/v1\nkind: SiteDeployment\nextends: link.yaml\n"})
    _doc, (diagnostic,) = load_spec("s.yaml")
    assert diagnostic.code == "NM111"
    assert diagnostic.message == "extends: 'link.yaml' is outside the spec repository (.)"
