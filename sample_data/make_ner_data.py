#!/usr/bin/env python3
"""Generate sample_data/ner.jsonl and ner_labels.txt: CoNLL-2003-style NER records.

Standard library only and deterministic. Each sentence is written with inline entity
brackets, e.g. "[PER Angela Merkel] visited [LOC Paris] .", and split on spaces into words
with BIO tags. Records hold `id`, `tokens` (words) and `ner_tags` (tag names).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]

SENTENCES = [
    "EU rejects [MISC German] call to boycott [MISC British] lamb .",
    "[PER Peter Blackburn]",
    "[LOC BRUSSELS] 1996-08-22",
    "The [ORG European Commission] said on Thursday it disagreed with [MISC German] advice to consumers to shun [MISC British] lamb until scientists determine whether mad cow disease can be transmitted to sheep .",
    "[LOC Germany] 's representative to the [ORG European Union] 's veterinary committee [PER Werner Zwingmann] said on Wednesday consumers should buy sheepmeat from countries other than [LOC Britain] until the scientific advice was clearer .",
    "\" We do n't support any such recommendation because we do n't see any grounds for it , \" the [ORG Commission] 's chief spokesman [PER Nikolaus van der Pas] told a news briefing .",
    "[PER Fischler] proposed EU-wide measures after reports from [LOC Britain] and [LOC France] that under laboratory conditions sheep could contract [MISC Bovine Spongiform Encephalopathy] ( [MISC BSE] ) -- mad cow disease .",
    "Only [LOC France] and [LOC Britain] backed [PER Fischler] 's proposal .",
    "[ORG Rabinovich] is winding up his term as ambassador .",
    "[PER Angela Merkel] visited [LOC Paris] on Monday .",
    "[PER Marie Curie] was born in [LOC Warsaw] and worked at the [ORG University of Paris] .",
    "Shares of [ORG Apple Inc.] rose 3.2 % on the [ORG Nasdaq] after the [MISC iPhone] launch .",
    "[ORG Volkswagen] recalled 1,200 cars in [LOC South Korea] .",
    "[PER Serena Williams] beat [PER Maria Sharapova] 6-1 6-4 at [MISC Wimbledon] .",
    "The [ORG United Nations] Security Council met in [LOC New York] on Tuesday .",
    "[PER Chocolate] is also the nickname of a [MISC Brazilian] footballer .",
    "Heavy rain flooded parts of [LOC Bangladesh] and eastern [LOC India] .",
    "[ORG Reuters] reported that [PER Jacques Chirac] would travel to [LOC Beijing] .",
    "[PER Lionel Messi] scored twice as [ORG Barcelona] beat [ORG Real Madrid] 3-2 .",
    "The [MISC Nobel Prize] in Physics went to researchers at [ORG CERN] .",
    "[LOC Mount Kilimanjaro] is the highest mountain in [LOC Africa] .",
    "Officials in [LOC Ankara] denied the report .",
    "[PER Haruki Murakami] 's new novel sold 1 million copies in [LOC Japan] .",
    "Oil prices fell after [ORG OPEC] agreed to raise output .",
    "[ORG Microsoft] and [ORG Google] announced a joint security initiative .",
    "[PER Nelson Mandela] was released from prison in 1990 .",
    "Thousands marched through central [LOC London] on Saturday .",
    "The [MISC Olympic] torch arrived in [LOC Athens] .",
    "[PER Ada Lovelace] wrote the first published algorithm .",
    "No entities appear in this short sentence .",
    "Yes .",
    "[LOC Rio de Janeiro] hosted the 2016 [MISC Summer Olympics] .",
    "[ORG Deutsche Bank] posted a loss for the third quarter .",
    "[PER Frida Kahlo] painted in [LOC Coyoacán] , [LOC Mexico City] .",
    "[PER Angela Merkel] besuchte am Montag [LOC Paris] .",
    "Die [ORG Europäische Zentralbank] in [LOC Frankfurt] hob den Leitzins an .",
    "[PER Gabriel García Márquez] nació en [LOC Aracataca] , [LOC Colombia] .",
    "El [ORG Real Madrid] ganó la [MISC Liga] en [LOC España] .",
    "[PER Emmanuel Macron] a rencontré [PER Olaf Scholz] à [LOC Berlin] .",
    "La [ORG SNCF] annonce une grève à [LOC Lyon] et [LOC Marseille] .",
    "[PER Владимир Набоков] родился в [LOC Санкт-Петербурге] .",
    "[ORG Газпром] увеличил поставки в [LOC Европу] .",
    "[PER 村上 春樹] は [LOC 京都] で 生まれた 。",
    "[ORG トヨタ] は [LOC 名古屋] に 本社 を 置く 。",
    "[PER 李白] 是 [LOC 中国] 唐代 的 诗人 。",
    "[ORG 联合国] 总部 位于 [LOC 纽约] 。",
    "[PER Recep Tayyip Erdoğan] [LOC İstanbul] 'da konuştu .",
    "[PER Wisława Szymborska] otrzymała [MISC Nagrodę Nobla] w 1996 roku .",
    "[PER محمد صلاح] يلعب في [ORG ليفربول] .",
    "[PER Pneumonoultramicroscopicsilicovolcanoconiosis] is not a person but a very long word .",
]


def parse(sentence: str) -> tuple[list[str], list[str]]:
    words: list[str] = []
    tags: list[str] = []
    entity: str | None = None
    first = False
    for piece in sentence.split(" "):
        if (
            piece.startswith("[")
            and len(piece) > 1
            and piece[1:].isupper()
            and piece[1:] in {"PER", "ORG", "LOC", "MISC"}
        ):
            entity, first = piece[1:], True
            continue
        closing = entity is not None and piece.endswith("]")
        word = piece[:-1] if closing else piece
        if entity is None:
            tags.append("O")
        else:
            tags.append(("B-" if first else "I-") + entity)
            first = False
        words.append(word)
        if closing:
            entity = None
    return words, tags


def main(out_dir: str = HERE) -> None:
    with open(os.path.join(out_dir, "ner.jsonl"), "w", encoding="utf-8", newline="\n") as out:
        for i, sentence in enumerate(SENTENCES):
            words, tags = parse(sentence)
            assert len(words) == len(tags) and all(t in LABELS for t in tags), sentence
            record = {"id": f"ner-{i:03d}", "tokens": words, "ner_tags": tags}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(os.path.join(out_dir, "ner_labels.txt"), "w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(LABELS) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
