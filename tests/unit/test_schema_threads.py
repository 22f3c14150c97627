"""Schema validation from many threads at once (the API's request threads): each thread has its
own validator, and each document gets its own verdict and its own error, never another's."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters import safe_xml
from adapters.rejection import InputRejected
from mappings.layers import GOLDEN_DIR

CASES = GOLDEN_DIR / "caf_system" / "standard" / "involvement-changed"
VALID = CASES / "hannah-young-carers-group-joins" / "wire.xml"
INVALID = CASES / "invalid-version-missing" / "wire.xml"
SCHEMA = Path(safe_xml.__file__).parent / "caf_system" / "schemas" / "caf-messages-1.xsd"


def test_each_thread_validates_with_a_schema_of_its_own():
    here = safe_xml.load_schema(SCHEMA)
    with ThreadPoolExecutor(1) as pool:
        there = pool.submit(safe_xml.load_schema, SCHEMA).result()

    assert safe_xml.load_schema(SCHEMA) is here  # loaded once per thread
    assert there is not here


def test_documents_validated_at_once_each_get_their_own_verdict():
    bodies = [VALID.read_bytes(), INVALID.read_bytes()] * 100
    start = threading.Barrier(8)

    def verdict(index: int) -> str | None:
        if index < 8:
            start.wait()
        try:
            safe_xml.validate(safe_xml.parse(bodies[index]), SCHEMA)
        except InputRejected as rejected:
            return f"{rejected.rule} at {rejected.field}"
        return None

    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(verdict, range(len(bodies))))

    assert verdicts[0::2] == [None] * 100
    assert set(verdicts[1::2]) == {
        "xml.schema.schemav_cvc_complex_type_4 at /involvementChanged/involvement (line 15)"}


@pytest.fixture(autouse=True)
def _schema_exists():
    assert SCHEMA.exists(), SCHEMA
