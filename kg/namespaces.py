"""IRIs of the vocabularies kgrel reads and writes, and the graphs it writes into."""

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
SCHEMA = "http://schema.org/"
PROV = "http://www.w3.org/ns/prov#"
DCTERMS = "http://purl.org/dc/terms/"
WD = "http://www.wikidata.org/entity/"
WDT = "http://www.wikidata.org/prop/direct/"
KGREL = "https://w3id.org/kgrel#"

# Prefixes every store knows; ingested Turtle/TriG adds its own on top.
DEFAULT_PREFIXES: dict[str, str] = {
    "rdf": RDF,
    "rdfs": RDFS,
    "owl": OWL,
    "xsd": XSD,
    "skos": SKOS,
    "schema": SCHEMA,
    "prov": PROV,
    "dcterms": DCTERMS,
    "wd": WD,
    "wdt": WDT,
    "kgrel": KGREL,
}

# Named graphs kgrel writes into, kept apart from the user's own data.
RELATIONS_GRAPH = "urn:kgrel:graph:relations"
EXAMPLES_GRAPH = "urn:kgrel:graph:examples"
SESSION_GRAPH_PREFIX = "urn:kgrel:graph:session:"

# Types that make an IRI a relation kgrel can classify.
RELATION_TYPES = (OWL + "ObjectProperty", RDF + "Property")
