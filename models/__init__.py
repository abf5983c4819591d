"""kgrel's learning layer: two models apart, and the one module that joins them.

    relation/   the text relation model: encoder, heads, RelationModel.forward, prototypes and the
                none-of-the-above decision, calibration, episodes, training, evaluation, active learning
    graph/      the graph model: entity encoders and decoders behind registries, LinkPredictor.forward,
                training, filtered-rank evaluation, embeddings with fold-in of new entities
    fusion.py   graph evidence for relation scores: the only module that imports both
    device.py   where and in what arithmetic models run (below both)

Both read the knowledge graph only through `kg`'s plain records (RelationInfo, GraphExport, ...).
"""
