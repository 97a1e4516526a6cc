// The concepts the embedded provider explains units with, grounded in WordNet: lexicographer categories ("words for
// animals"), hypernym closures ("kinds of vehicle"), parts of a whole, similar adjectives, parts of speech, word
// forms (plural, past tense, capitals, digits, negation), positions in the sentence, word endings and word sets, and
// combinations ("A or B", "A that are B", "A, but not B", "sometimes A"). Owns how far a concept covers a word in its
// sentence (0 to 1) and how a concept is written as readable label text; labels.ts reads text back into concepts.
import { wordNet, type Pos } from '../../data/wordnet';
import { lemmasOf, sensesOf, type WordInContext } from './words';

/** Parts of speech a label can name. */
export type PartOfSpeech = 'noun' | 'verb' | 'adjective' | 'adverb' | 'pronoun' | 'preposition' | 'determiner' | 'conjunction' | 'number';

export type Concept =
  | { kind: 'category'; lexname: string }
  /** Nouns or verbs with a sense below this synset (hypernym closure). */
  | { kind: 'hypernym'; synset: string }
  /** Nouns with a sense that is a part of this synset, or of a kind of it ("parts of the face"). */
  | { kind: 'partOf'; synset: string }
  /** Adjectives with a sense in, or similar to, these adjective synsets ("large": big, huge). */
  | { kind: 'similar'; synsets: string[] }
  | { kind: 'suffix'; suffix: string }
  /** These words, in any inflection (matched by lemma). */
  | { kind: 'words'; words: string[] }
  | { kind: 'pos'; pos: PartOfSpeech }
  | { kind: 'form'; form: 'plural' | 'past' | 'capitalised' | 'digits' | 'negation' | 'punctuation' | 'newline' }
  | { kind: 'position'; position: 'first' | 'second' | 'last' }
  | { kind: 'anyWord' }
  | { kind: 'anyOf'; parts: Concept[] }
  | { kind: 'allOf'; parts: Concept[] }
  | { kind: 'except'; base: Concept; except: Concept }
  /** A part that holds only so strongly ("sometimes X": 0.5). */
  | { kind: 'graded'; part: Concept; weight: number }
  | { kind: 'nothing' };

/** How each lexicographer category reads in a label; the simulator reads labels back through the same table. */
export const CATEGORY_PHRASES: Record<string, string> = {
  'adj.all': 'descriptive adjectives',
  'adj.pert': 'relational adjectives',
  'adj.ppl': 'participial adjectives',
  'adv.all': 'adverbs',
  'noun.Tops': 'very general nouns',
  'noun.act': 'words for acts and actions',
  'noun.animal': 'words for animals',
  'noun.artifact': 'words for man-made objects',
  'noun.attribute': 'words for attributes and qualities',
  'noun.body': 'words for body parts',
  'noun.cognition': 'words for knowledge and thought',
  'noun.communication': 'words for communication and language',
  'noun.event': 'words for events',
  'noun.feeling': 'words for feelings and emotions',
  'noun.food': 'words for food and drink',
  'noun.group': 'words for groups and collections',
  'noun.location': 'words for places and regions',
  'noun.motive': 'words for goals and motives',
  'noun.object': 'words for natural objects',
  'noun.person': 'words for people',
  'noun.phenomenon': 'words for natural phenomena',
  'noun.plant': 'words for plants',
  'noun.possession': 'words for possessions and money',
  'noun.process': 'words for natural processes',
  'noun.quantity': 'words for quantities and units',
  'noun.relation': 'words for relations',
  'noun.shape': 'words for shapes',
  'noun.state': 'words for states and conditions',
  'noun.substance': 'words for substances and materials',
  'noun.time': 'words for times and periods',
  'verb.body': 'verbs of bodily care',
  'verb.change': 'verbs of change',
  'verb.cognition': 'verbs of thinking',
  'verb.communication': 'verbs of speaking and communicating',
  'verb.competition': 'verbs of fighting and competing',
  'verb.consumption': 'verbs of eating and drinking',
  'verb.contact': 'verbs of touching and contact',
  'verb.creation': 'verbs of making and creating',
  'verb.emotion': 'verbs of feeling',
  'verb.motion': 'verbs of motion',
  'verb.perception': 'verbs of perception',
  'verb.possession': 'verbs of owning and exchanging',
  'verb.social': 'verbs of social life',
  'verb.stative': 'verbs of being and having',
  'verb.weather': 'verbs of weather',
};

export const SUFFIXES = ['ing', 'ed', 'ly', 'tion', 'ness', 'ment', 'er', 'est', 'al', 'ous', 'ic', 'ive', 'able', 'ity', 'ism', 'ist', 's'];

/** Function words: WordNet lists some as nouns (“in” as inch, “as” as arsenic); they belong to no WordNet concept. */
const FUNCTION_WORDS = new Set(
  ('a an the and or but nor of in on at by for with from to into onto upon about above below over under between among ' +
    'through during before after since until as than that this these those which who whom whose what when where why how ' +
    'is are was were be been being am has have had having do does did not no so such it its he him his she her they them ' +
    'their we us our you your i me my one any all some each every either neither both other another more most less least ' +
    'very can could may might must shall should will would also only just even then there here if whether because while ' +
    'against along across around off out up down within without toward towards via per').split(' '),
);

export function isFunctionWord(word: string): boolean {
  return FUNCTION_WORDS.has(word);
}

interface WordFeatures {
  /** Lexicographer categories of the word's senses, with the weight of the best sense in each. */
  categories: Map<string, number>;
  /** Hypernym ancestors of the word's noun and verb senses (those senses included), and of the nouns its adjective
   * senses describe, with weights. */
  ancestors: Map<string, number>;
}

const CLITICS = new Set(['re', 've', 'll', 's', 't', 'd', 'm', 'nt']);
const featureCache = new Map<string, WordFeatures>();
const NO_FEATURES: WordFeatures = { categories: new Map(), ancestors: new Map() };

/** A word's WordNet features: categories and hypernym ancestors of its first senses of each part of speech. */
export function featuresOf(word: string): WordFeatures {
  // Function words, single letters and clitics ("t" of "don't", "re" of "they're") name no concept.
  if (FUNCTION_WORDS.has(word) || CLITICS.has(word) || word.length < 2 || !/^[a-z]/.test(word)) return NO_FEATURES;
  let f = featureCache.get(word);
  if (!f) {
    const wn = wordNet();
    const categories = new Map<string, number>();
    const ancestors = new Map<string, number>();
    const keep = (m: Map<string, number>, k: string, w: number) => m.set(k, Math.max(m.get(k) ?? 0, w));
    for (const pos of ['n', 'v', 'a', 'r'] as Pos[]) {
      for (const { synset, weight } of sensesOf(word, pos)) {
        keep(categories, synset.lexname, weight);
        if (pos === 'n' || pos === 'v') for (const a of wn.ancestors(synset.id)) keep(ancestors, a, weight);
        // An adjective reaches the nouns it describes ("happy": happiness, a feeling; "large": size).
        if (pos === 'a') for (const n of synset.nouns) for (const a of wn.ancestors(n)) keep(ancestors, a, 0.8 * weight);
      }
    }
    f = { categories, ancestors };
    featureCache.set(word, f);
  }
  return f;
}

const TAG_OF_POS: Record<Pos, string> = { n: 'Noun', v: 'Verb', a: 'Adjective', r: 'Adverb' };

/** How much a part of speech counts for a word in its sentence: fully where the tagger agrees, half otherwise. */
function posWeight(word: WordInContext, pos: Pos): number {
  const open = ['Noun', 'Verb', 'Adjective', 'Adverb'].filter((t) => word.tags.has(t));
  return open.length === 0 || word.tags.has(TAG_OF_POS[pos]) ? 1 : 0.5;
}

const NEGATIONS = new Set(['not', 'no', 'never', 'none', 'nobody', 'nothing', 'neither', 'nor', 'nowhere', 'without', 'cannot', 'nt', "n't"]);
const PRONOUNS = new Set('i me my mine myself you your yours yourself he him his himself she her hers herself it its itself we us our ours ourselves they them their theirs themselves who whom whose'.split(' '));
const PREPOSITIONS = new Set('in on at by for with from to into onto upon about above below over under between among through during before after since until of off out up down within without toward towards via per across along around against near beside behind beyond inside outside'.split(' '));
const DETERMINERS = new Set('a an the this that these those each every some any no another'.split(' '));
const CONJUNCTIONS = new Set('and or but nor so yet because although while whereas if unless'.split(' '));
const NUMBER_WORDS = new Set('zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion dozen'.split(' '));

function isPos(word: WordInContext, pos: PartOfSpeech): boolean {
  if (word.symbol) return false;
  const w = word.text;
  const t = word.tags;
  switch (pos) {
    case 'pronoun':
      return PRONOUNS.has(w) || t.has('Pronoun');
    case 'preposition':
      return PREPOSITIONS.has(w) && !t.has('Verb');
    case 'determiner':
      return DETERMINERS.has(w) || t.has('Determiner');
    case 'conjunction':
      return CONJUNCTIONS.has(w);
    case 'number':
      return /^\d/.test(w) || NUMBER_WORDS.has(w) || t.has('Value');
    case 'noun':
      return !PRONOUNS.has(w) && !FUNCTION_WORDS.has(w) && (t.size > 0 ? t.has('Noun') && !t.has('Pronoun') : lemmasOf(w).n.length > 0);
    case 'verb':
      return t.size > 0 ? t.has('Verb') : lemmasOf(w).v.length > 0;
    case 'adjective':
      return t.size > 0 ? t.has('Adjective') : lemmasOf(w).a.length > 0;
    case 'adverb':
      return t.size > 0 ? t.has('Adverb') : lemmasOf(w).r.length > 0;
  }
}

function hasForm(word: WordInContext, form: 'plural' | 'past' | 'capitalised' | 'digits' | 'negation' | 'punctuation' | 'newline'): boolean {
  if (word.symbol) return form === 'punctuation' ? word.text !== '\n' : form === 'newline' && word.text === '\n';
  switch (form) {
    case 'punctuation':
    case 'newline':
      return false;
    case 'plural':
      return word.tags.has('Plural') || (word.tags.size === 0 && lemmasOf(word.text).n.some((l) => l !== word.text));
    case 'past':
      return word.tags.has('PastTense') || (word.tags.size === 0 && /ed$/.test(word.text));
    case 'capitalised':
      return word.capitalised;
    case 'digits':
      return /^\d/.test(word.text);
    case 'negation':
      return NEGATIONS.has(word.text) || /n't$/.test(word.text) || word.tags.has('Negative');
  }
}

/** A word's lemmas of every part of speech, and the word itself. */
function allLemmas(word: string): Set<string> {
  const l = lemmasOf(word);
  return new Set([word, ...l.n, ...l.v, ...l.a, ...l.r]);
}

/** Whether a synset, or a kind of it, is a part of `whole` (or of a kind of it). */
function isPartOf(id: string, whole: string): boolean {
  const wn = wordNet();
  for (const a of wn.ancestors(id)) for (const p of wn.synsets.get(a)?.partOf ?? []) if (wn.ancestors(p).has(whole)) return true;
  return false;
}

/** How far a concept covers a word in its sentence: 0 (not at all) to 1 (fully). */
export function covers(c: Concept, word: WordInContext): number {
  const w = word.text;
  switch (c.kind) {
    case 'category': {
      const weight = featuresOf(w).categories.get(c.lexname) ?? 0;
      return weight * posWeight(word, c.lexname.startsWith('noun') ? 'n' : c.lexname.startsWith('verb') ? 'v' : c.lexname.startsWith('adv') ? 'r' : 'a');
    }
    case 'hypernym': {
      const weight = featuresOf(w).ancestors.get(c.synset) ?? 0;
      return weight * (c.synset.startsWith('v') ? posWeight(word, 'v') : Math.max(posWeight(word, 'n'), posWeight(word, 'a')));
    }
    case 'partOf':
      return Math.max(0, ...sensesOf(w, 'n').map((s) => (isPartOf(s.synset.id, c.synset) ? s.weight : 0)));
    case 'similar':
      return Math.max(0, ...sensesOf(w, 'a').map((s) => (c.synsets.includes(s.synset.id) || s.synset.similar.some((x) => c.synsets.includes(x)) ? s.weight : 0)));
    case 'suffix':
      return w.length > c.suffix.length + 2 && w.endsWith(c.suffix) ? 1 : 0;
    case 'words': {
      if (c.words.includes(w)) return 1;
      const lemmas = allLemmas(w);
      return c.words.some((x) => lemmas.has(x) || [...allLemmas(x)].some((l) => lemmas.has(l) && l.length > 2)) ? 1 : 0;
    }
    case 'pos':
      return isPos(word, c.pos) ? 1 : 0;
    case 'form':
      return hasForm(word, c.form) ? 1 : 0;
    case 'position':
      return !word.symbol && (c.position === 'first' ? word.index === 0 : c.position === 'second' ? word.index === 1 : word.index === word.count - 1) ? 1 : 0;
    case 'anyWord':
      return word.symbol ? 0 : 1;
    case 'anyOf':
      return Math.max(0, ...c.parts.map((p) => covers(p, word)));
    case 'allOf':
      return Math.min(...c.parts.map((p) => covers(p, word)));
    case 'except':
      return covers(c.base, word) * (1 - covers(c.except, word));
    case 'graded':
      return c.weight * covers(c.part, word);
    case 'nothing':
      return 0;
  }
}

/** A word standing alone (no sentence around it): how the explainer asks whether a concept covers a word. */
export function alone(text: string): WordInContext {
  return { text, capitalised: false, index: -1, count: 0, tags: new Set(), key: `${text}\u0001\u00010` };
}

/** Does a concept depend on where a word stands in its sentence? */
function usesPosition(c: Concept): boolean {
  switch (c.kind) {
    case 'position':
      return true;
    case 'anyOf':
    case 'allOf':
      return c.parts.some(usesPosition);
    case 'except':
      return usesPosition(c.base) || usesPosition(c.except);
    case 'graded':
      return usesPosition(c.part);
    default:
      return false;
  }
}

/**
 * How far a concept covers each of many words (0 for a missing one): `covers`, computed once per distinct word (text,
 * tags, capitals, and the position where the concept depends on it).
 */
export function coverage(c: Concept, words: readonly (WordInContext | undefined)[]): Float64Array {
  const positional = usesPosition(c);
  const memo = new Map<string, number>();
  return Float64Array.from(words, (w) => {
    if (!w) return 0;
    const key = positional ? `${w.key}\u0001${w.index}/${w.count}` : w.key;
    let v = memo.get(key);
    if (v === undefined) {
      v = covers(c, w);
      memo.set(key, v);
    }
    return v;
  });
}

const depthCache = new Map<string, number>();

/** Length of the shortest hypernym path from a synset to a root of the hierarchy. */
export function synsetDepth(id: string): number {
  let d = depthCache.get(id);
  if (d === undefined) {
    const hypernyms = wordNet().synsets.get(id)?.hypernyms ?? [];
    d = hypernyms.length === 0 ? 0 : 1 + Math.min(...hypernyms.map(synsetDepth));
    depthCache.set(id, d);
  }
  return d;
}

const quote = (w: string) => `"${w}"`;

function listWords(words: string[]): string {
  const q = words.map(quote);
  return q.length <= 1 ? q.join('') : `${q.slice(0, -1).join(', ')} and ${q[q.length - 1]}`;
}

const POS_PHRASES: Record<PartOfSpeech, string> = {
  noun: 'nouns',
  verb: 'verbs',
  adjective: 'adjectives',
  adverb: 'adverbs',
  pronoun: 'pronouns',
  preposition: 'prepositions',
  determiner: 'articles and determiners',
  conjunction: 'conjunctions',
  number: 'numbers',
};
const FORM_PHRASES = { plural: 'plural nouns', past: 'past tense verbs', capitalised: 'capitalized words', digits: 'numbers written in digits', negation: 'negation words', punctuation: 'punctuation', newline: 'line breaks' } as const;
const POSITION_PHRASES = { first: 'the first word of a sentence', second: 'the second word of a sentence', last: 'the last word of a sentence' } as const;

/** The readable label of a concept, with up to `maxExamples` of the words that made the unit fire as examples. */
export function describe(c: Concept, examples: string[], maxExamples = 3): string {
  const eg = examples.length > 0 && maxExamples > 0 ? `, e.g. ${examples.slice(0, maxExamples).map(quote).join(', ')}` : '';
  switch (c.kind) {
    case 'category':
      return `${CATEGORY_PHRASES[c.lexname]}${eg}`;
    case 'hypernym': {
      const s = wordNet().synsets.get(c.synset)!;
      const gloss = s.gloss.split(/;/)[0]!.trim();
      const word = s.words[0]!.replace(/_/g, ' ');
      return s.pos === 'v' ? `verbs meaning to ${word} (${gloss})${eg}` : `kinds of ${word} (${gloss})${eg}`;
    }
    case 'partOf':
      return `parts of the ${wordNet().synsets.get(c.synset)!.words[0]!.replace(/_/g, ' ')}${eg}`;
    case 'similar':
      return `words like ${listWords(c.synsets.slice(0, 2).map((id) => wordNet().synsets.get(id)!.words[0]!.replace(/_/g, ' ')))}`;
    case 'suffix':
      return `words ending in "-${c.suffix}"${eg}`;
    case 'words':
      return `the word${c.words.length > 1 ? 's' : ''} ${listWords(c.words)}`;
    case 'pos':
      return `${POS_PHRASES[c.pos]}${eg}`;
    case 'form':
      return `${FORM_PHRASES[c.form]}${eg}`;
    case 'position':
      return POSITION_PHRASES[c.position];
    case 'anyWord':
      return 'any word';
    case 'anyOf':
      return c.parts.map((p) => describe(p, examples.filter((w) => covers(p, alone(w)) > 0).slice(0, 2), maxExamples)).join(' or ');
    case 'allOf':
      return c.parts.map((p) => describe(p, [], 0)).join(' that are ');
    case 'except':
      return `${describe(c.base, examples, maxExamples)}, but not ${describe(c.except, [], 0)}`;
    case 'graded':
      return `${c.weight >= 0.8 ? 'mostly' : 'sometimes'} ${describe(c.part, examples, maxExamples)}`;
    case 'nothing':
      return 'never active on these examples';
  }
}
