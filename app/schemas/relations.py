"""Bodies of /relations: relations with their side information, and their examples."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RelationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id": "ex:foundedBy", "label": "founded by", "aliases": ["founder", "established by"],
         "description": "the person or organization that founded the subject organization"}]})
    id: str = Field(min_length=1, description="IRI or CURIE of the relation.")
    label: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list, description="Synonyms, written as skos:altLabel.")
    description: str = ""
    domain: list[str] = Field(default_factory=list, description="Classes of the subject (IRIs or CURIEs).")
    range: list[str] = Field(default_factory=list, description="Classes of the object (IRIs or CURIEs).")
    symmetric: bool = Field(False, description="The fact holds both ways (owl:SymmetricProperty): a pair is "
                                               "returned once, whichever order it was asked in.")
    inverse: str | None = Field(None, description="The inverse relation (owl:inverseOf, IRI or CURIE): a reversed "
                                                  "pair of this relation is returned as a fact of the inverse.")

    @model_validator(mode="after")
    def _one_algebra(self) -> RelationIn:
        if self.symmetric and self.inverse:
            raise ValueError("a relation is either symmetric or has an inverse (a symmetric relation is its own "
                             "inverse); give one of 'symmetric' and 'inverse'")
        return self


class RelationOut(BaseModel):
    id: str
    curie: str
    label: str
    aliases: list[str]
    description: str
    domain: list[str]
    range: list[str]
    symmetric: bool = Field(description="owl:SymmetricProperty: both directions are the same fact.")
    inverse: str | None = Field(description="owl:inverseOf; None: asymmetric unless symmetric (one direction "
                                            "of a pair can hold).")
    observed_symmetric: bool = Field(
        False, description="Declared neither symmetric nor with an inverse, but most of its facts in the graph are "
                           "stated both ways, so it is read as symmetric (`observed_symmetry` setting).")
    examples: int


class MentionOut(BaseModel):
    start: int
    end: int
    text: str
    entity: str | None = None
    linked_by: str | None = Field(None, description="How the mention was linked to its entity: name (a label or "
                                                    "alias), spelling (the closest name), context (one of several "
                                                    "entities with the name, chosen by the text) or hand")
    link_score: float | None = Field(None, description="For a link by spelling: how close (difflib ratio, 0-1)")


class ExampleOut(BaseModel):
    id: str
    relation: str
    text: str
    head: MentionOut
    tail: MentionOut
    created: str | None = None
    source: str | None = None


class ExamplesAdded(BaseModel):
    added: int
    ids: list[str]


class QualityPoint(BaseModel):
    examples: int
    accuracy: float


class Confusion(BaseModel):
    relation: str
    curie: str
    label: str
    examples: int = Field(description="Misread examples of the relation that this one wins.")


class Agreement(BaseModel):
    annotators: list[str]
    items: int = Field(description="Pairs of mentions both decided.")
    kappa: float | None = Field(description="Cohen's kappa: 1 full agreement, 0 chance, below 0 worse than chance.")
    observed: float = Field(description="Share of those items they decided alike.")


class QualityOut(BaseModel):
    relation: str
    examples: int
    leave_one_out_accuracy: float | None = Field(description="Share of examples classified right by the others "
                                                             "(null without examples).")
    curve: list[QualityPoint] = Field(description="Leave-one-out accuracy of the first k examples, k = 1..N.")
    candidates: int | None = Field(None, description="Relations each example was classified among.")
    confused_with: list[Confusion]
    agreement: Agreement | None = Field(None, description="Between two annotators who decided the same pairs of "
                                                          "mentions in sessions of this relation (null if none did).")
