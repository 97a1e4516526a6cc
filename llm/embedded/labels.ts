// Reads a label, written by the embedded explainer, a person or an LLM, into the concept it names: all the embedded
// simulator sees of a unit. Understands the labels concepts.ts writes and plain English: alternatives ("A or B"),
// exceptions ("A, but not B", "A except B", "A other than B"), negation ("words that aren't nouns", "not A"),
// grading ("mostly A, sometimes B", "especially A"), examples that illustrate a concept rather than define it
// ("animals, e.g. "dog"", "colors such as red": the examples widen to what they share), quoted words (any
// inflection), word endings, positions ("the first word of a sentence"), parts of speech and word forms ("plural
// nouns", "past tense verbs", "capitalized words", "numbers"), WordNet categories, "kinds of X (gloss)", "parts of
// X", compounds ("body parts", "days of the week"), and otherwise each content word by its part of speech in the
// label (npm `compromise`): nouns and verbs by their WordNet senses' hypernym closure, adjectives by similarity.
import nlp from 'compromise';
import pluralize from 'pluralize';
import { wordNet } from '../../data/wordnet';
import { CATEGORY_PHRASES, synsetDepth, type Concept, type PartOfSpeech } from './concepts';
import { lemmasOf } from './words';

/** Reads a label into the concept it names. */
export function readLabel(label: string): Concept {
  const text = label
    .toLowerCase()
    .replace(/[“”]/g, '"')
    .replace(/[‘’]/g, "'")
    .replace(/\.\s*$/, '')
    .replace(/colour/g, 'color')
    // "This neuron fires on X", "activates for X": the framing says nothing about what the unit does.
    .replace(/^(?:this |the )?(?:neuron|unit|feature)?\s*(?:mostly |mainly |strongly )?(?:fires|activates|responds|is active|detects|looks for)\s*(?:on|to|for|when (?:it sees|seeing)|at)?\s+/, '')
    // An exception in parentheses is an exception: "animals (but not dogs)".
    .replace(/\s*\(\s*((?:but )?(?:not|except|excluding|other than)\b[^)]*)\)/, ', $1')
    .trim();
  if (text === '' || /never active|no activation|\bdead\b|^nothing\b/.test(text)) return { kind: 'nothing' };
  const [positive, ...exceptions] = splitOutside(text, /^(?:[,;]?\s*(?:but (?:not|never)|except(?: for)?|other than|excluding|apart from|without)|[,;]\s*not|\s+(?:that|which) (?:are|is) not|\s+(?:that|which) (?:aren't|isn't))\s+/);
  // "anything except X", "words other than X": everything but X.
  const base = /^(?:anything|everything|any word|all words|words|tokens|any token)?$/.test((positive ?? '').trim()) ? ({ kind: 'anyWord' } as Concept) : readGraded(positive ?? '');
  if (exceptions.length === 0) return base;
  return { kind: 'except', base, except: anyOf(exceptions.map(readAlternatives)) };
}

const GRADES: [RegExp, number][] = [
  [/^(?:and\s+)?(?:mostly|mainly|primarily|especially|particularly|strongly)\s+/, 1],
  [/^(?:and\s+|but\s+)?(?:sometimes|occasionally|also|often|partly)\s+/, 0.5],
  [/^(?:and\s+|but\s+)?(?:weakly|slightly|rarely|faintly|a little)\s+(?:on\s+)?/, 0.3],
];

/** "mostly A, sometimes B": each part with its weight; plain parts beside an "especially" part count 0.6. */
function readGraded(text: string): Concept {
  const segments = splitOutside(text, /^[,;]\s*(?=(?:and\s+|but\s+)?(?:mostly|mainly|primarily|especially|particularly|strongly|sometimes|occasionally|also|often|partly|weakly|slightly|rarely|faintly|a little)\b)/);
  const first = segments[0]!.match(/^(.*?)\s*,?\s*(?:especially|particularly)\s+(.*)$/);
  if (segments.length === 1 && first && first[1]) segments.splice(0, 1, first[1], `especially ${first[2]}`);
  const parts = segments.map((segment) => {
    for (const [pattern, weight] of GRADES) {
      if (pattern.test(segment)) return { concept: readAlternatives(segment.replace(pattern, '')), weight, explicit: true };
    }
    return { concept: readAlternatives(segment), weight: 1, explicit: false };
  });
  if (parts.length === 1 && !parts[0]!.explicit) return parts[0]!.concept;
  const emphasised = parts.some((p) => p.explicit && p.weight === 1);
  return anyOf(parts.map((p) => (p.explicit ? (p.weight === 1 ? p.concept : graded(p.concept, p.weight)) : emphasised ? graded(p.concept, 0.6) : p.concept)));
}

function graded(part: Concept, weight: number): Concept {
  return { kind: 'graded', part, weight };
}

function anyOf(parts: Concept[]): Concept {
  const real = parts.filter((p) => p.kind !== 'nothing');
  return real.length === 0 ? { kind: 'nothing' } : real.length === 1 ? real[0]! : { kind: 'anyOf', parts: real };
}

function allOf(parts: Concept[]): Concept {
  return parts.length === 1 ? parts[0]! : { kind: 'allOf', parts };
}

/** "A or B" (outside quotes and parentheses). */
function readAlternatives(text: string): Concept {
  return anyOf(splitOutside(text, /^\s+or\s+/).map(readClause));
}

/** Splits text where `separator` matches (anchored at a position) outside quotes and parentheses. */
function splitOutside(text: string, separator: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '(') depth++;
    else if (!quoted && ch === ')') depth = Math.max(0, depth - 1);
    else if (!quoted && depth === 0 && i > start) {
      const m = text.slice(i).match(separator);
      if (m && m[0].length > 0) {
        parts.push(text.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Words that say nothing about what a unit does ("words for X", "tokens related to X"). */
const GENERIC = new Set(
  'word words token tokens term terms thing things kind kinds type types sort sorts related relating referring refers describing describe describes mention mentions mentioning about used usage involving concerning regarding like such example examples instance instances text phrase phrases expression expressions any all various certain different specific some each the a an of for to in on with that which is are'.split(
    ' ',
  ),
);

const POS_WORDS: [RegExp, PartOfSpeech][] = [
  [/\bnouns?\b/, 'noun'],
  [/\bverbs?\b/, 'verb'],
  [/\badjectives?\b/, 'adjective'],
  [/\badverbs?\b/, 'adverb'],
  [/\bpronouns?\b/, 'pronoun'],
  [/\bprepositions?\b/, 'preposition'],
  [/\barticles?\b|\bdeterminers?\b/, 'determiner'],
  [/\bconjunctions?\b/, 'conjunction'],
];

/** One clause: what it names, from the most specific reading to the most general. */
function readClause(raw: string): Concept {
  let text = raw.replace(/^(?:and|or)\s+/, '').replace(/^(?:the|a|an|any|all)\s+/, '').trim();
  if (text === '') return { kind: 'nothing' };

  // Negation: "words that aren't nouns", "not nouns", "no nouns", "non-nouns", "anything but nouns".
  const negated = text.match(/^(?:(?:words?|tokens?|anything|things?)\s+)?(?:that|which)\s+(?:are|is)\s*(?:not|n't)\s+(.+)$/) ?? text.match(/^(?:(?:words?|tokens?)\s+)?(?:not\s+|no\s+|non-\s*|anything but\s+)(.+)$/) ?? text.match(/^(?:words?|tokens?)\s+(?:that|which)\s+(?:aren't|isn't)\s+(.+)$/);
  if (negated) return { kind: 'except', base: { kind: 'anyWord' }, except: readClause(negated[1]!) };

  // Examples illustrate a concept; alone, they widen to what they share.
  const eg = text.match(/^(.*?)[\s,(]*\b(?:e\.g\.|eg\.?|for example|for instance|such as|like|including)[\s,:]*(.+?)\)?$/);
  if (eg && eg[2]) {
    const examples = [...eg[2].matchAll(/"([^"]+)"|([\p{L}\p{N}][\p{L}\p{N}'-]*)/gu)].map((m) => (m[1] ?? m[2]!).trim()).filter((w) => !['and', 'or', 'etc'].includes(w));
    const head = eg[1]!.trim();
    const widened = examples.length > 0 ? anyOf([commonConcept(examples), { kind: 'words', words: examples }]) : ({ kind: 'nothing' } as Concept);
    const headContent = head.split(/\s+/).filter((w) => w && !GENERIC.has(w.replace(/,$/, '')));
    return headContent.length === 0 ? widened : anyOf([readClause(head.replace(/,$/, '')), widened]);
  }

  // Quoted words: "the word "river"", "the words "a" and "b"" (any inflection).
  const quoted = [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.trim().replace(/^-/, ''));
  const suffix = text.match(/\bending (?:in|with) "?-?([a-z]+)"?/);
  if (suffix) return { kind: 'suffix', suffix: suffix[1]! };
  if (quoted.length > 0) {
    const rest = text.replace(/"[^"]*"/g, ' ').replace(/\b(?:the|words?|tokens?|and|or|,)\b|,/g, ' ').trim();
    if (rest === '') return { kind: 'words', words: quoted };
    return anyOf([{ kind: 'words', words: quoted }, readClause(text.replace(/"[^"]*"/g, ' ').replace(/\s+/g, ' '))]);
  }

  // "kinds of X (gloss)": the label the explainer writes for a hypernym.
  const kinds = text.match(/kinds? of ([a-z][a-z -]*?)\s*\(([^)]*)\)/);
  if (kinds) {
    const lemma = kinds[1]!.trim().replace(/ /g, '_');
    const senses = wordNet().sensesOfLemma(lemma, 'n');
    const sense = senses.find((s) => s.gloss.toLowerCase().startsWith(kinds[2]!.trim())) ?? senses[0];
    return sense ? { kind: 'hypernym', synset: sense.id } : { kind: 'nothing' };
  }

  // "verbs meaning to X (gloss)": the label the explainer writes for a verb hypernym.
  const meaning = text.match(/verbs? meaning (?:to )?([a-z][a-z -]*?)\s*\(([^)]*)\)/);
  if (meaning) {
    const senses = wordNet().sensesOfLemma(meaning[1]!.trim().replace(/ /g, '_'), 'v');
    const sense = senses.find((s) => s.gloss.toLowerCase().startsWith(meaning[2]!.trim())) ?? senses[0];
    return sense ? { kind: 'hypernym', synset: sense.id } : { kind: 'nothing' };
  }

  // Positions in the sentence ("the first word of a sentence", "the final token").
  if (/\b(?:sentence|sequence|line|text|document)\b/.test(text) || /^(?:first|last|final|initial|opening|closing|second) (?:words?|tokens?)$/.test(text)) {
    if (/\b(?:first|start|starts|beginning|begins|opening|initial)\b/.test(text)) return { kind: 'position', position: 'first' };
    if (/\bsecond\b/.test(text)) return { kind: 'position', position: 'second' };
    if (/\b(?:last|end|ends|final|closing)\b/.test(text)) return { kind: 'position', position: 'last' };
  }

  // Verbs of a kind, in other words than the explainer's ("verbs of speaking", "motion verbs").
  const verbKinds: [RegExp, string][] = [
    [/\b(?:speaking|talking|saying|speech|communicating)\b/, 'verb.communication'],
    [/\b(?:movement|moving|motion)\b/, 'verb.motion'],
    [/\b(?:eating|drinking|consuming|consumption)\b/, 'verb.consumption'],
    [/\b(?:thinking|thought|knowing|cognition)\b/, 'verb.cognition'],
    [/\b(?:seeing|hearing|perceiving|perception|sensing)\b/, 'verb.perception'],
    [/\b(?:making|creating|building|creation)\b/, 'verb.creation'],
    [/\b(?:feeling|emotion)\b/, 'verb.emotion'],
    [/\b(?:fighting|competing|competition)\b/, 'verb.competition'],
    [/\b(?:touching|contact|hitting)\b/, 'verb.contact'],
    [/\b(?:owning|giving|buying|selling|possession)\b/, 'verb.possession'],
    [/\b(?:changing|change)\b/, 'verb.change'],
  ];
  if (/\bverbs?\b/.test(text)) {
    const kind = verbKinds.find(([pattern]) => pattern.test(text));
    if (kind) return { kind: 'category', lexname: kind[1] };
  }

  // The category phrases the explainer writes ("words for animals", "verbs of motion").
  const category = Object.entries(CATEGORY_PHRASES)
    .sort((a, b) => b[1].length - a[1].length)
    .find(([, phrase]) => text.includes(phrase));
  if (category) return { kind: 'category', lexname: category[0] };

  // Parts of a whole.
  const parts = text.match(/^parts? of (?:the |a |an )?(.+)$/);
  if (parts) {
    const whole = nounSense(parts[1]!.trim());
    if (whole) return { kind: 'partOf', synset: whole };
  }
  const names = text.match(/^names? of (.+)$/) ?? text.match(/^(.+?) names$/);
  if (names) text = names[1]!;

  // Word forms and parts of speech, with what else the clause says ("adjectives of feeling", "color adjectives").
  const forms: [RegExp, Concept][] = [
    [/\bcommas?\b/, { kind: 'words', words: [','] }],
    [/\b(?:periods?|full stops?)\b/, { kind: 'words', words: ['.'] }],
    [/\bexclamation (?:marks?|points?)\b/, { kind: 'words', words: ['!'] }],
    [/\bquestion marks?\b/, { kind: 'words', words: ['?'] }],
    [/\bquotation marks?\b|\bquotes\b/, { kind: 'words', words: ['"', "'", '“', '”'] }],
    [/\bparenthes[ie]s\b|\bbrackets?\b/, { kind: 'words', words: ['(', ')', '[', ']'] }],
    [/\bpunctuation(?: marks?)?\b|\bsymbols?\b/, { kind: 'form', form: 'punctuation' }],
    [/\bnew ?lines?\b|\bline ?breaks?\b/, { kind: 'form', form: 'newline' }],
    [/\bplurals?(?:\s+nouns?)?\b/, { kind: 'form', form: 'plural' }],
    [/\bpast(?:[- ]tense)?(?:\s+(?:verbs?|forms?))?\b|\bpast participles?\b/, { kind: 'form', form: 'past' }],
    [/\bcapitali[sz]ed(?:\s+words?)?\b|\bupper[- ]?case(?:\s+words?)?\b|\bproper nouns?\b|\bproper names?\b/, { kind: 'form', form: 'capitalised' }],
    [/\b(?:numbers?\s+)?(?:written\s+(?:in|as)\s+)?(?:digits|numerals?)\b/, { kind: 'form', form: 'digits' }],
    [/\bnegations?(?:\s+words?)?\b|\bnegative words?\b|\bnegating words?\b/, { kind: 'form', form: 'negation' }],
    [/\bnumbers?(?:\s+words?)?\b|\bnumber words?\b|\bcardinal numbers?\b|\bcounting words?\b/, { kind: 'pos', pos: 'number' }],
  ];
  for (const [pattern, concept] of [...forms, ...POS_WORDS.map(([p, pos]): [RegExp, Concept] => [p, { kind: 'pos', pos }])]) {
    if (!pattern.test(text)) continue;
    const rest = text.replace(pattern, ' ').replace(/\s+/g, ' ').trim();
    const restConcept = contentWords(rest);
    return restConcept.kind === 'nothing' ? concept : allOf([concept, restConcept]);
  }
  return contentWords(text);
}

/** The concept of a clause's content words: compounds first, then each noun, verb and adjective. */
function contentWords(text: string): Concept {
  const words = text.match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? [];
  if (words.every((w) => GENERIC.has(w))) return { kind: 'nothing' };
  // Compounds WordNet knows ("body part", "day of the week", "unit of measurement").
  for (let n = Math.min(5, words.length); n >= 2; n--) {
    for (let i = 0; i + n <= words.length; i++) {
      const span = words.slice(i, i + n);
      if (GENERIC.has(span[0]!) || GENERIC.has(span[n - 1]!)) continue;
      const id = nounSense(span.join(' '));
      if (id) {
        const rest = [...words.slice(0, i), ...words.slice(i + n)].join(' ');
        return anyOf([{ kind: 'hypernym', synset: id }, contentWords(rest)]);
      }
    }
  }
  const terms = (nlp(words.join(' ')).json() as { terms: { text: string; tags: string[] }[] }[]).flatMap((s) => s.terms);
  const concepts: Concept[] = [];
  const content = terms.filter((t) => !GENERIC.has(t.text.toLowerCase().replace(/[^\p{L}\p{N}'-]/gu, '')));
  for (const [i, term] of content.entries()) {
    const w = term.text.toLowerCase().replace(/[^\p{L}\p{N}'-]/gu, '');
    if (w === '') continue;
    const tags = new Set(term.tags);
    // The last content word is the head of the phrase: a noun where it can be one ("animal", not "carnal").
    if (tags.has('Adjective') && !(i === content.length - 1 && nounSense(w))) {
      const heads = adjectiveSenses(w);
      if (heads.length > 0) {
        concepts.push({ kind: 'similar', synsets: heads });
        continue;
      }
    }
    // Labels name things far more often than actions: a word that can be a noun is read as one.
    if (tags.has('Verb') && !tags.has('Gerund') && !nounSense(w)) {
      const verb = lemmasOf(w).v[0];
      const sense = verb ? wordNet().sensesOfLemma(verb, 'v')[0] : undefined;
      if (sense && !['be', 'have', 'do', 'describe', 'refer', 'relate', 'mention', 'involve', 'use'].includes(verb!)) {
        concepts.push({ kind: 'hypernym', synset: sense.id });
        continue;
      }
    }
    const noun = nounSense(w) ?? (tags.has('Gerund') ? verbSense(w) : undefined);
    // The word itself always counts, whichever of its senses the label means ("letters": every letter).
    if (noun) concepts.push({ kind: 'hypernym', synset: noun }, { kind: 'words', words: [pluralize.singular(w)] });
    else {
      const adjective = adjectiveSenses(w);
      if (adjective.length > 0) concepts.push({ kind: 'similar', synsets: adjective });
    }
  }
  return anyOf(concepts);
}

/** The most frequent noun sense of a word or phrase (plural or singular), if specific enough to name a concept. */
function nounSense(phrase: string): string | undefined {
  const wn = wordNet();
  const words = phrase.trim().split(/\s+/);
  // A plural names its singular ("names": name, not name-calling, which WordNet lists as "names").
  const candidates = [[...words.slice(0, -1), pluralize.singular(words.at(-1)!)].join('_'), words.join('_'), [pluralize.singular(words[0]!), ...words.slice(1)].join('_')];
  if (words.length === 1) candidates.push(...lemmasOf(words[0]!).n);
  for (const c of candidates) {
    // A label names a class: of the first three senses, a much broader one beats the most frequent ("plants":
    // flora, not factories).
    const senses = wn.sensesOfLemma(c, 'n').slice(0, 3).filter((s) => synsetDepth(s.id) >= 3);
    if (senses.length === 0) continue;
    const broadest = senses.reduce((a, b) => (wn.hyponymCount(b.id) > 2 * wn.hyponymCount(a.id) + 2 ? b : a));
    return broadest.id;
  }
  return undefined;
}

function verbSense(word: string): string | undefined {
  const lemma = lemmasOf(word).v[0];
  return lemma ? wordNet().sensesOfLemma(lemma, 'v')[0]?.id : undefined;
}

/** The first two adjective senses of a word (its heads, where a sense is a satellite). */
function adjectiveSenses(word: string): string[] {
  const wn = wordNet();
  return lemmasOf(word)
    .a.flatMap((l) => wn.sensesOfLemma(l, 'a').slice(0, 2))
    .flatMap((s) => [s.id, ...s.similar]);
}

/** What example words share: their deepest common hypernym (nouns), or the adjectives similar to them. */
function commonConcept(examples: string[]): Concept {
  const wn = wordNet();
  const nouns = examples.map((w) => lemmasOf(w.toLowerCase()).n[0]).map((l) => (l ? wn.sensesOfLemma(l, 'n')[0] : undefined));
  if (examples.length >= 2 && nouns.every(Boolean)) {
    const [first, ...rest] = nouns.map((s) => wn.ancestors(s!.id));
    const shared = [...first!].filter((a) => rest.every((r) => r.has(a)));
    const deepest = shared.sort((a, b) => synsetDepth(b) - synsetDepth(a))[0];
    if (deepest && synsetDepth(deepest) >= 4) return { kind: 'hypernym', synset: deepest };
  }
  const adjectives = examples.flatMap((w) => adjectiveSenses(w.toLowerCase()));
  return adjectives.length > 0 ? { kind: 'similar', synsets: adjectives } : { kind: 'nothing' };
}
