"""AS-path loop classification, shared by the filter language, the JSON schema and alerts.

Prepending (the same ASN repeated next to itself) is routine traffic engineering, not a
loop; AS_TRANS (23456) stands in for unknown 4-byte ASNs and is ignored, as bgpscanner
does. A loop is an ASN that shows up again after a different ASN. When the repeat goes
through an AS_SET member it is its own class: sets come from aggregation and are often
benign. Confederation segments are private to the neighbour and do not count.
"""

from __future__ import annotations

from collections.abc import Sequence

AS_SET = 1
AS_SEQUENCE = 2
AS_TRANS = 23456

#: The classes, in the order of precedence when a path has both.
NONADJACENT = "nonadjacent"
AS_SET_LOOP = "as_set"
LOOP_CLASSES = (NONADJACENT, AS_SET_LOOP)


def loop_class(segments: Sequence[tuple[int, Sequence[int]]] | None) -> str | None:
    """The loop class of an AS path, or None when it has no loop.

    ``segments`` is the decoder's ``(segment type, ASNs)`` tuple form.
    """
    if not segments:
        return None
    in_sequences: set[int] = set()
    set_members: set[int] = set()
    through_set = False
    previous = -1
    for seg_type, asns in segments:
        if seg_type == AS_SEQUENCE:
            for asn in asns:
                if asn == previous:
                    continue  # prepending
                previous = asn  # AS_TRANS too: "1 23456 1" is not prepending
                if asn == AS_TRANS:
                    continue
                if asn in in_sequences:
                    return NONADJACENT
                through_set = through_set or asn in set_members
                in_sequences.add(asn)
        elif seg_type == AS_SET:
            members = {asn for asn in asns if asn != AS_TRANS}
            if not members.isdisjoint(in_sequences) or not members.isdisjoint(set_members):
                through_set = True
            set_members |= members
            previous = -1
    return AS_SET_LOOP if through_set else None
