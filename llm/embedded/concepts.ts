// The concepts the embedded provider explains units with, grounded in WordNet: lexicographer categories ("words for
// animals"), hypernym closures ("kinds of vehicle"), word endings and explicit word sets, and combinations of two
// ("A or B", "A, but not B"). Owns which words a concept covers, how a concept is written as readable label text,
// and how label text (written here, by a person or by an LLM) is read back into concepts: the simulator sees
// nothing but that text.
import { wordNet, type Pos } from '../../data/wordnet';

export type Concept =
  | { kind: 'category'; lexname: string }
  | { kind: 'hypernym'; synset: string }
  | { kind: 'suffix'; suffix: string }
  | { kind: 'words'; words: string[] }
  | { kind: 'anyOf'; parts: Concept[] }
  | { kind: 'except'; base: Concept; except: Concept }
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
  categories: Set<string>;
  /** Hypernym ancestors of the word's most frequent noun sense, that sense included. */
  ancestors: Set<string>;
}

const featureCache = new Map<string, WordFeatures>();
const NO_FEATURES: WordFeatures = { categories: new Set(), ancestors: new Set() };

/** A word's WordNet features, from the most frequent sense of each part of speech. */
export function featuresOf(word: string): WordFeatures {
  if (FUNCTION_WORDS.has(word) || !/^[a-z]/.test(word)) return NO_FEATURES;
  let f = featureCache.get(word);
  if (!f) {
    const wn = wordNet();
    const categories = new Set<string>();
    let ancestors = new Set<string>();
    for (const pos of ['n', 'v', 'a', 'r'] as Pos[]) {
      const first = wn.senses(word, pos, 1)[0];
      if (!first) continue;
      categories.add(first.lexname);
      if (pos === 'n') ancestors = wn.ancestors(first.id);
    }
    f = { categories, ancestors };
    featureCache.set(word, f);
  }
  return f;
}

export function covers(c: Concept, word: string): boolean {
  switch (c.kind) {
    case 'category':
      return featuresOf(word).categories.has(c.lexname);
    case 'hypernym':
      return featuresOf(word).ancestors.has(c.synset);
    case 'suffix':
      return word.length > c.suffix.length + 2 && word.endsWith(c.suffix);
    case 'words':
      return c.words.includes(word);
    case 'anyOf':
      return c.parts.some((p) => covers(p, word));
    case 'except':
      return covers(c.base, word) && !covers(c.except, word);
    case 'nothing':
      return false;
  }
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

/** The readable label of a concept, with up to four of the words that made the unit fire as examples. */
export function describe(c: Concept, examples: string[]): string {
  const eg = examples.length > 0 ? `, e.g. ${examples.slice(0, 4).map(quote).join(', ')}` : '';
  switch (c.kind) {
    case 'category':
      return `${CATEGORY_PHRASES[c.lexname]}${eg}`;
    case 'hypernym': {
      const s = wordNet().synsets.get(c.synset)!;
      const gloss = s.gloss.split(/;/)[0]!.trim();
      return `kinds of ${s.words[0]!.replace(/_/g, ' ')} (${gloss})${eg}`;
    }
    case 'suffix':
      return `words ending in "-${c.suffix}"${eg}`;
    case 'words':
      return `the word${c.words.length > 1 ? 's' : ''} ${listWords(c.words)}`;
    case 'anyOf':
      return c.parts.map((p) => describe(p, examples.filter((w) => covers(p, w)).slice(0, 2))).join(' or ');
    case 'except':
      return `${describe(c.base, examples)}, but not ${describe(c.except, [])}`;
    case 'nothing':
      return 'never active on these examples';
  }
}

/**
 * Reads a label back into the concept it names. Understands the labels `describe` writes and free text: "A or B",
 * "A, but not B", category phrases, "kinds of X (gloss)", word endings, quoted words, and otherwise each content
 * word's most frequent WordNet noun sense.
 */
export function readLabel(label: string): Concept {
  const text = label.toLowerCase().trim();
  if (/never active|no activation|\bdead\b/.test(text)) return { kind: 'nothing' };
  const [positive, ...negative] = splitOutside(text, /,? but not /);
  const base = anyOf(splitOutside(positive!, / or /).flatMap(readClause));
  if (negative.length === 0) return base;
  return { kind: 'except', base, except: anyOf(negative.flatMap(readClause)) };
}

function anyOf(parts: Concept[]): Concept {
  return parts.length === 1 ? parts[0]! : { kind: 'anyOf', parts };
}

/** Splits text at a separator that stands outside quotes and parentheses. */
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
    else if (!quoted && depth === 0) {
      const m = text.slice(i).match(separator);
      if (m && m.index === 0) {
        parts.push(text.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** The concepts one clause of a label names. */
function readClause(text: string): Concept[] {
  const concepts: Concept[] = [];
  const quoted = [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.trim());
  const suffix = text.match(/ending in "-?([a-z]+)"/);
  if (suffix) concepts.push({ kind: 'suffix', suffix: suffix[1]! });
  const words = quoted.filter((w) => !suffix || w.replace(/^-/, '') !== suffix[1]);
  if (words.length > 0) concepts.push({ kind: 'words', words });
  const unquoted = text.replace(/"[^"]*"/g, ' ');

  const kinds = unquoted.match(/kinds? of ([a-z][a-z -]*?)\s*\(([^)]*)\)/);
  if (kinds) {
    const lemma = kinds[1]!.trim().replace(/ /g, '_');
    const gloss = kinds[2]!.trim();
    const senses = wordNet().sensesOfLemma(lemma, 'n');
    const sense = senses.find((s) => s.gloss.toLowerCase().startsWith(gloss)) ?? senses[0];
    if (sense) concepts.push({ kind: 'hypernym', synset: sense.id });
    return concepts;
  }
  const phrases = Object.entries(CATEGORY_PHRASES).sort((a, b) => b[1].length - a[1].length);
  const category = phrases.find(([, phrase]) => unquoted.includes(phrase));
  if (category) {
    concepts.push({ kind: 'category', lexname: category[0] });
    return concepts;
  }
  if (concepts.length > 0 && /^\s*(the )?words?\b/.test(unquoted) && !/\bkinds?\b|\bfor\b|\babout\b|\brelated\b/.test(unquoted)) return concepts;
  // Free text: each content word names the noun it is the most frequent sense of ("animal words", "vehicles").
  for (const w of unquoted.match(/[a-z]+/g) ?? []) {
    if (FUNCTION_WORDS.has(w) || ['word', 'words', 'kind', 'kinds', 'type', 'types', 'related', 'eg', 'like'].includes(w)) continue;
    const sense = wordNet().senses(w, 'n', 1)[0];
    if (sense && synsetDepth(sense.id) >= 3) concepts.push({ kind: 'hypernym', synset: sense.id });
  }
  return concepts;
}
