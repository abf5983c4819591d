"""kgrel's learning layer: text encoder, relation heads, prototypical network, GNN, training and evaluation.

It reads the knowledge graph only through `kg`'s plain records (RelationInfo, EntityInfo).
"""
