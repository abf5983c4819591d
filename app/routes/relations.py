"""Relations (registered into the graph) and their labelled examples."""

from fastapi import APIRouter, Body, Query, Response, status

from kgrel.app.deps import GraphDep, LabellingDep, SettingsDep
from kgrel.app.errors import BatchItemError
from kgrel.app.schemas import ErrorOut
from kgrel.app.schemas.instances import InstanceIn
from kgrel.app.schemas.relations import ExampleOut, ExamplesAdded, MentionOut, QualityOut, RelationIn, RelationOut
from kgrel.app.services.graph import GraphService
from kgrel.kg.errors import InputTooLarge
from kgrel.kg.examples import ExampleRecord
from kgrel.kg.ontology import RelationInfo
from kgrel.kg.relations import RelationSpec
from kgrel.models.relation.instances import InvalidInstance

router = APIRouter(prefix="/relations", tags=["relations"])
ERRORS = {404: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def relation_out(graph: GraphService, info: RelationInfo, n_examples: int) -> RelationOut:
    return RelationOut(id=info.iri, curie=graph.curie(info.iri), label=info.label, aliases=info.aliases,
                       description=info.description, domain=info.domain, range=info.range,
                       symmetric=info.symmetric, inverse=info.inverse, observed_symmetric=info.observed_symmetric,
                       examples=n_examples)


def example_out(rec: ExampleRecord) -> ExampleOut:
    return ExampleOut(
        id=rec.id, relation=rec.relation, text=rec.text, created=rec.created, source=rec.source,
        head=MentionOut(start=rec.head_start, end=rec.head_end, text=rec.text[rec.head_start:rec.head_end],
                        entity=rec.head_entity),
        tail=MentionOut(start=rec.tail_start, end=rec.tail_end, text=rec.text[rec.tail_start:rec.tail_end],
                        entity=rec.tail_entity))


@router.get("", response_model=list[RelationOut])
def list_relations(graph: GraphDep) -> list[RelationOut]:
    """Every relation of the graph with its side information and number of examples."""
    return [relation_out(graph, info, n) for info, n in graph.relations()]


@router.post("", response_model=RelationOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def register_relation(body: RelationIn, graph: GraphDep) -> RelationOut:
    """Register a relation by writing it into the graph.

    Written as owl:ObjectProperty with rdfs:label, skos:altLabel, rdfs:comment, rdfs:domain and rdfs:range,
    plus owl:SymmetricProperty or owl:inverseOf: the relation's algebra decides which direction of a pair
    is returned as a fact.
    """
    iri = graph.iri
    spec = RelationSpec(iri=iri(body.id), label=body.label.strip(),
                        aliases=[a.strip() for a in body.aliases if a.strip()], description=body.description.strip(),
                        domain=[iri(c) for c in body.domain], range=[iri(c) for c in body.range],
                        symmetric=body.symmetric, inverse=iri(body.inverse) if body.inverse else None)
    info = graph.register_relation(spec)
    return relation_out(graph, info, 0)


@router.post("/{relation_id:path}/examples", response_model=ExamplesAdded, status_code=status.HTTP_201_CREATED,
             responses=ERRORS)
def add_examples(relation_id: str, graph: GraphDep, settings: SettingsDep,
                 body: InstanceIn | list[InstanceIn] = Body(...)) -> ExamplesAdded:
    """Add one example or a list; all are checked before any is stored."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise InvalidInstance("no examples given")
    if len(items) > settings.max_examples:
        raise InputTooLarge(f"{len(items)} examples in one request; at most {settings.max_examples} "
                            "(KGREL_MAX_EXAMPLES): send them in several requests")
    instances = []
    for i, item in enumerate(items):
        try:
            instances.append(item.to_instance(graph.iri))
        except InvalidInstance as e:
            raise BatchItemError(i, e) from None
    records = graph.add_examples(relation_id, instances)
    return ExamplesAdded(added=len(records), ids=[r.id for r in records])


@router.get("/{relation_id:path}/examples", response_model=list[ExampleOut] | dict[str, list[dict]],
            responses=ERRORS)
def list_examples(relation_id: str, graph: GraphDep, labelling: LabellingDep,
                  format: str = Query("json", pattern="^(json|fewrel)$")) -> list[ExampleOut] | dict:
    """The relation's examples; `?format=fewrel` gives FewRel JSON ({relation: [{tokens, h, t}]})."""
    if format == "fewrel":
        return labelling.export_examples(relation_id)
    return [example_out(r) for r in graph.examples(relation_id)]


@router.get("/{relation_id:path}/quality", response_model=QualityOut, responses=ERRORS)
def quality(relation_id: str, labelling: LabellingDep) -> QualityOut:
    """Leave-one-out accuracy of the relation's examples, and the learning curve as they were added."""
    return QualityOut(**labelling.quality(relation_id))


# Last: its {relation_id:path} would swallow the paths above.
@router.get("/{relation_id:path}", response_model=RelationOut, responses=ERRORS)
def get_relation(relation_id: str, graph: GraphDep) -> RelationOut:
    info, n = graph.relation(relation_id)
    return relation_out(graph, info, n)


@router.delete("/{relation_id:path}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_relation(relation_id: str, graph: GraphDep) -> Response:
    """Remove the relation's description and examples; facts that use it stay in the graph."""
    graph.delete_relation(relation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
