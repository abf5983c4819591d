"""RDF/XML entity declarations: namespace abbreviations pass, what only an attack needs is refused."""

import pyoxigraph as ox
import pytest

from kgrel.kg.errors import UnsafeInput
from kgrel.kg.ingest import parse_rdf
from kgrel.kg.xml_entities import check_entities

RDF = '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">{}</rdf:RDF>'


def doc(subset: str, body: str = "") -> bytes:
    return f'<?xml version="1.0"?><!DOCTYPE rdf:RDF [{subset}]>{RDF.format(body)}'.encode()


def test_namespace_entities_are_expanded_as_before():
    data = doc('<!ENTITY ex "http://example.org/">', '<rdf:Description rdf:about="&ex;a"><ex:p>1</ex:p>'
                                                    '</rdf:Description>')
    quads, _ = parse_rdf(data, ox.RdfFormat.RDF_XML)
    assert str(quads[0].subject) == "<http://example.org/a>"


@pytest.mark.parametrize("subset, message", [
    ('<!ENTITY a "x"><!ENTITY b "&a;&a;">', "nested"),
    ('<!ENTITY x SYSTEM "file:///etc/passwd">', "external"),
    ('<!ENTITY % p "x">', "parameter entity"),
])
def test_dangerous_declarations_are_refused(subset, message):
    with pytest.raises(UnsafeInput, match=message):
        check_entities(doc(subset))


def test_expansion_budget():
    value = "y" * 1000
    body = "<ex:p>" + "&big;" * 20000 + "</ex:p>"  # 100 KB of references, 20 MB once expanded
    with pytest.raises(UnsafeInput, match="expand"):
        check_entities(doc(f'<!ENTITY big "{value}">', body))
    check_entities(doc(f'<!ENTITY big "{value}">', "<ex:p>" + "&big;" * 100 + "</ex:p>"))
