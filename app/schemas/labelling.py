"""Bodies of /extract and /sessions: texts in, candidate facts and labelling sessions out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kgrel.app.schemas.relations import MentionOut


class MentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    entity: str | None = Field(None, description="IRI or CURIE of the entity the mention names")


class TextsIn(BaseModel):
    """One `text` or several `documents`; `mentions` (per document, document offsets) replaces name matching."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    documents: list[str] | None = None
    mentions: list[list[MentionIn]] | None = None

    @model_validator(mode="after")
    def one_form(self):
        if (self.text is None) == (self.documents is None):
            raise ValueError("give either text or documents")
        docs = self.all_documents()
        if not docs or not any(d.strip() for d in docs):
            raise ValueError("no text given: the text or documents are empty")
        if self.mentions is not None:
            if len(self.mentions) != len(docs):
                raise ValueError(f"mentions must have one list per document ({len(docs)})")
            for d, (doc, ms) in enumerate(zip(docs, self.mentions, strict=True)):
                for m in ms:
                    if m.end > len(doc) or m.start >= m.end:
                        raise ValueError(f"document {d}: mention [{m.start}, {m.end}) is not inside its text")
        return self

    def all_documents(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.documents or [])

    def mention_dicts(self):
        return None if self.mentions is None else [[m.model_dump() for m in ms] for ms in self.mentions]


class ExtractIn(TextsIn):
    candidates: list[str] | None = Field(None, description="Relations to consider (all when absent)")
    threshold: float | None = Field(None, ge=0, le=1, description="Keep facts scoring at least this (default: "
                                                                 "the model's none-of-the-above threshold)")
    user: str = Field("api", description="Recorded as the agent of ingested facts")


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relation: str = Field(description="IRI or CURIE of the relation to label (register it first with POST /relations)")
    name: str | None = None
    user: str = "anonymous"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(pattern="^(accept|reject|correct)$")
    relation: str | None = Field(None, description="With correct: the right relation, or null for none of them")
    user: str | None = None
    score: float | None = Field(None, ge=0, le=1, description="Ignored (kept for older clients): the server records "
                                                              "the model's own score with the fact")


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str | None = Field(None, description="Who undoes it (default: the session's annotator)")


class SpanOut(MentionOut):
    """A mention with document offsets."""


class SupportOut(BaseModel):
    """A passage that states the fact: a sentence mentioning both entities, or the shortest stretch of
    sentences that mentions each (a fact stated across sentences)."""

    sentence: str
    sentence_start: int = Field(description="Offset of the passage in its document.")
    head_span: SpanOut
    tail_span: SpanOut


class FactOut(BaseModel):
    head: str
    head_label: str | None = None
    relation: str
    curie: str
    label: str
    tail: str
    tail_label: str | None = None
    score: float = Field(description="Calibrated probability that the relation holds.")
    document: int
    sentence: str = Field(description="The first passage that supports the fact (as in `support`).")
    sentence_start: int = Field(description="Offset of that passage in its document.")
    head_span: SpanOut
    tail_span: SpanOut
    support: list[SupportOut] = Field(description="Every passage of the document that supports the fact, in "
                                                  "document order: the fact is returned once, however often stated.")


class ExtractOut(BaseModel):
    facts: list[FactOut]
    ingested: bool
    graph: str | None = Field(None, description="Named graph the facts were written to (with ?ingest=true).")
    reason: str | None = Field(None, description="Why no fact was returned, when none was: no linked mentions, "
                                                 "no two entities near enough to pair, or no pair above the "
                                                 "threshold.")


class SessionCounts(BaseModel):
    pending: int
    accepted: int
    rejected: int
    corrected: int


class SessionOut(BaseModel):
    id: str
    name: str
    relation: str
    curie: str
    label: str
    user: str
    created: str
    graph: str = Field(description="Named graph of the session's facts and their provenance.")
    counts: SessionCounts
    examples: int = Field(description="Examples the relation has now.")


class TextsAdded(BaseModel):
    documents: int
    sentences: int = Field(description="Sentences with at least one pair of linked mentions.")
    added: int = Field(description="New candidate pairs.")
    pending: int
    ambiguous: list[dict] = Field(default_factory=list, description="Names several entities carry ({text, entities}): "
                                                                   "left unlinked; mark them by hand to choose")
    guessed: list[dict] = Field(default_factory=list, description="Names linked by spelling or by context rather "
                                                                 "than by an exact name ({text, entity, how, score}): "
                                                                 "check them")


class CandidateSupportOut(BaseModel):
    sentence: str
    offset: int = Field(description="Offset of the sentence in its document.")
    head: MentionOut
    tail: MentionOut


class CandidateOut(BaseModel):
    id: str
    sentence: str
    document: int
    offset: int
    head: MentionOut
    tail: MentionOut
    status: str = Field(description="pending, accepted, rejected or corrected")
    relation: str | None = None
    example: str | None = None
    statement: str | None = None
    user: str | None = None
    decided: str | None = None
    support: list[CandidateSupportOut] = Field(
        default_factory=list, description="The other sentences of the document that name the same two entities: "
                                          "one suggestion per pair, written with the fact's provenance.")


class Alternative(BaseModel):
    relation: str
    curie: str
    label: str | None = None
    score: float


class SuggestionOut(CandidateOut):
    score: float = Field(description="The model's probability that the session's relation holds.")
    alternatives: list[Alternative] = Field(default_factory=list,
                                            description="The model's likeliest other relations, best first.")
