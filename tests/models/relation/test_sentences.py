"""Sentence splitting and word tokens keep exact character offsets."""

from __future__ import annotations

from kgrel.models.relation.sentences import split_sentences, tokenize


def test_sentence_splitter_keeps_offsets_and_knows_abbreviations():
    text = ('Dr. Smith met J. R. R. Tolkien in the U.S. in 1950. He said "Hello!" Then they left.\n\n'
            "No final stop here\nbut the same sentence. 3 days later, Mr. Brown came?  Yes.")
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "Dr. Smith met J. R. R. Tolkien in the U.S. in 1950.", 'He said "Hello!"', "Then they left.",
        "No final stop here\nbut the same sentence.", "3 days later, Mr. Brown came?", "Yes."]
    assert all(text[s.start:s.end] == s.text for s in sentences)
    assert [t.text for t in tokenize("Jay-Z's album (2003), don't.")] == [
        "Jay-Z's", "album", "(", "2003", ")", ",", "don't", "."]
