"""The export's contents: exactly the subject's rows, a valid schema, a signed manifest, safe CSV and HTML."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from portal.audit import checkpoints
from portal.core.csvsafe import is_formula
from portal.export import archive
from portal.export.archive import HTML_ROWS
from portal.subjects import registry
from tests.conftest import Portal
from tests.export_oracle import normal, owned_rows
from tests.export_seed import FORMULAS, export_zip, seed, subject_of

A, B = "alice@example.org", "bob@example.org"


def _db_rows(portal: Portal, category: registry.Category, subject_id: int) -> list[dict[str, Any]]:
    """The category's rows as the independent oracle finds them (not through the export's own query)."""
    names = [n for n, _ in category.columns()]
    rows = [{n: normal(r[n]) for n in names} for r in owned_rows(portal.store, category.table, subject_id)]
    key = "seq" if category.key == registry.AUDIT_KEY else category.order_by[0]
    return sorted(rows, key=lambda r: (r[key], r.get("id")))


def _two_users(portal: Portal) -> tuple[Any, int, int]:
    alice, bob = portal.client(), portal.client()
    portal.verified_user(alice, A)
    portal.verified_user(bob, B)
    return alice, subject_of(portal.store, A), subject_of(portal.store, B)


def test_export_matches_the_database_and_nothing_of_another_subject(portal: Portal) -> None:
    alice, sa, sb = _two_users(portal)
    seeded = seed(portal.store, sa, "alicemark", logs=40, formulas=True)
    seed(portal.store, sb, "bobmark", logs=30)  # same IP as Alice's records
    zf = export_zip(portal, alice)
    names = set(zf.namelist())
    keys = [c.key for c in registry.ordered()]
    csvs = {f"{c.origin}/{c.key}.csv" for c in registry.exported()}
    assert names == {"data.json", "schema.json", "index.html", "manifest.json", "manifest.sig"} | csvs

    data = json.loads(zf.read("data.json"))
    jsonschema.Draft202012Validator(json.loads(zf.read("schema.json"))).validate(data)
    assert data["subject"]["id"] == sa and data["subject"]["kind"] == "account"
    assert list(data["provided"]) == [k for k in keys if registry.by_key(k).origin == "provided"]
    assert list(data["observed"]) == [k for k in keys if registry.by_key(k).origin == "observed"]

    for category in registry.exported():
        section = data[category.origin][category.key]
        expected = _db_rows(portal, category, sa)
        if category.key == "exports":  # the snapshot was taken before this export was ready and downloaded
            expected = [r | {"ready_at": None, "used_at": None, "size": None} for r in expected]
        if category.key == registry.AUDIT_KEY:  # ... and before its download was audited
            expected = [r for r in expected if r["action"] != "export.download"]
        assert section["origin"] == category.origin
        assert section["count"] == len(expected) == len(section["rows"]), category.key
        assert section["rows"] == expected, category.key
        # The CSV holds the same rows, with text cells that would run as formulas neutralised.
        reader = csv.reader(io.StringIO(zf.read(section["csv"]).decode("utf-8-sig"), newline=""))
        header, *cells = list(reader)
        assert header == [n for n, _ in category.columns()]
        assert len(cells) == len(expected)
        for row, want in zip(cells, expected, strict=True):
            assert row == [_csv(want[n]) for n in header], category.key
    for key, count in seeded.counts.items():
        assert data[registry.by_key(key).origin][key]["count"] == count, key
    assert data["provided"]["account"]["rows"][0]["email"] == A
    assert "password_hash" not in data["provided"]["account"]["rows"][0]
    audit_actions = [r["action"] for r in data["observed"]["audit_entries"]["rows"]]
    assert "login.ok" in audit_actions and "export.create" in audit_actions

    # Nothing of Bob's, although his log records share Alice's IP address.
    for name in names - {"manifest.sig"}:
        body = zf.read(name).decode("utf-8-sig")
        assert "bobmark" not in body and B not in body, name


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and is_formula(value):
        return "'" + value
    return str(value)


def test_formula_cells_are_neutralised_in_csv_only(portal: Portal) -> None:
    alice, sa, _ = _two_users(portal)
    seed(portal.store, sa, "alicemark", formulas=True)
    zf = export_zip(portal, alice)
    terms = [r["term"] for r in json.loads(zf.read("data.json"))["observed"]["search_preferences"]["rows"]]
    cells = [row[1] for row in csv.reader(io.StringIO(zf.read("observed/search_preferences.csv").decode("utf-8-sig"), newline=""))][1:]
    for formula in FORMULAS:
        raw = f"{formula} alicemark"
        assert raw in terms  # data.json keeps the exact value
        assert "'" + raw in cells and raw not in cells
    assert all(not is_formula(c) for c in cells)


def test_manifest_covers_every_file_and_its_signature_verifies(portal: Portal) -> None:
    alice, sa, _ = _two_users(portal)
    seed(portal.store, sa, "alicemark")
    zf = export_zip(portal, alice)
    manifest_bytes = zf.read("manifest.json")
    manifest = json.loads(manifest_bytes)
    assert set(manifest["files"]) == set(zf.namelist()) - {"manifest.json", "manifest.sig"}
    for name, facts in manifest["files"].items():
        body = zf.read(name)
        assert hashlib.sha256(body).hexdigest() == facts["sha256"] and len(body) == facts["size"], name
    published = alice.get("/.well-known/portal-audit-key").text
    public = checkpoints.load_public_key(published)
    public.verify(zf.read("manifest.sig"), manifest_bytes)  # raises InvalidSignature if wrong
    assert manifest["signature"]["key_id"] == checkpoints.key_id(public)
    assert base64.b64decode(manifest["signature"]["public_key"]) == checkpoints.raw_public(public)
    # A changed file no longer matches its digest.
    assert hashlib.sha256(zf.read("data.json") + b" ").hexdigest() != manifest["files"]["data.json"]["sha256"]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src", "action", "srcset", "poster", "data", "formaction"):
                self.urls.append(value or "")


def test_index_html_works_offline_and_marks_provided_apart(portal: Portal) -> None:
    alice, sa, _ = _two_users(portal)
    seed(portal.store, sa, "alicemark", logs=HTML_ROWS + 10)
    zf = export_zip(portal, alice)
    html = zf.read("index.html").decode()
    parser = _Links()
    parser.feed(html)
    assert not {"script", "iframe", "img", "link", "object", "embed", "form"} & set(parser.tags)
    assert all(url.startswith("#") for url in parser.urls), parser.urls
    assert "url(" not in html and "@import" not in html and " on" + "error=" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # Stored markup is shown as text, never run.
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="provided"' in html and 'id="observed"' in html
    assert html.index('id="provided"') < html.index("Your portal account") < html.index('id="observed"')
    assert html.index('id="observed"') < html.index("Access-log records")
    assert f"The first {HTML_ROWS} of {HTML_ROWS + 10} records are shown" in html


def test_zip_entries_are_compressed_and_zip_is_valid(portal: Portal) -> None:
    alice, sa, _ = _two_users(portal)
    seed(portal.store, sa, "alicemark", logs=200)
    zf = export_zip(portal, alice)
    assert zf.testzip() is None
    info = zf.getinfo("observed/log_records.csv")
    assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size < info.file_size


@pytest.mark.parametrize("internals", [True, False], ids=["copied-as-is", "inflated-again"])
def test_a_csv_deflated_while_read_becomes_a_valid_entry(
    internals: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV entries are deflated before their entry exists and copied in as they are; should a
    Python release change the zip writer's internals that relies on, they are inflated and deflated
    again. Either way the entry must read back byte for byte, with its CRC-32 and size right."""
    if not internals:
        monkeypatch.setattr(archive, "_WRITER_INTERNALS", ("_no_such_attribute",))
    pieces = [("\ufeffid,text\r\n").encode()] + [
        f"{i},çà et là — {hashlib.sha256(str(i).encode()).hexdigest() * (i % 7)}\r\n".encode() for i in range(20_000)
    ]
    with (tmp_path / "spool").open("w+b") as spool:
        spool.write(b"whatever came before")
        part = archive._DeflatedPart(spool)
        part.begin()
        for piece in pieces:
            part.add(piece)
        part.finish()
        spool.write(b"and after")
        with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
            info = zipfile.ZipInfo("observed/x.csv", date_time=(2026, 11, 30, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive._write_deflated(zf, info, part)
            zf.writestr("after.txt", b"next entry")
    data = b"".join(pieces)
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("observed/x.csv") == data and zf.read("after.txt") == b"next entry"
        entry = zf.getinfo("observed/x.csv")
        assert (entry.file_size, entry.CRC) == (len(data), zlib.crc32(data)) and entry.compress_size < len(data)
    assert part.sha.hexdigest() == hashlib.sha256(data).hexdigest()
