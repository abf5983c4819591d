"""kgrel's knowledge-graph layer: the RDF store, ingest, SPARQL, the ontology view and graph export.

Nothing in this package imports `models` or `app`.
"""
