"""The graph model: entity representations (encoders) and interactions (decoders) composed into a
link predictor, trained and evaluated on the graph's triples. It never imports `models.relation`."""
