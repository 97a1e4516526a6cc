// What the embedded provider knows of a token in its sentence. Tokens are matched as words: tokenizer marks are
// undone (GPT-2's byte markers "Ġ" and "Ċ", leading spaces, case, surrounding punctuation) and sub-word pieces are
// joined to their word (a piece without a leading space continues the word before it, where the sentence marks word
// starts with spaces), while records keep the original token strings. Each word gets its part of speech in context
// (npm `compromise`), its lemmas (npm `wink-lemmatizer`, WordNet's own exception lists and rules, and `pluralize`),
// and its WordNet senses, the most frequent first.
import nlp from 'compromise';
import pluralize from 'pluralize';
import { wordNet, type Pos, type Synset } from '../../data/wordnet';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const lemmatizer = require('wink-lemmatizer') as { lemmatizeNoun(w: string): string; lemmatizeVerb(w: string): string; lemmatizeAdjective(w: string): string };

/** One word of a sentence, as the simulator sees it. */
export interface WordInContext {
  /** Lower-case text, tokenizer marks and surrounding punctuation removed, sub-word pieces joined. */
  text: string;
  /** Starts with a capital letter as written. */
  capitalised: boolean;
  /** Position among its sentence's words, and their number (a record can hold several sentences). */
  index: number;
  count: number;
  /** compromise's tags for the word in its sentence (Noun, Plural, Verb, PastTense, Adjective, Pronoun, Value, …). */
  tags: Set<string>;
  /** Text, tags and capitalisation together: words with the same key are covered alike by any concept but a position. */
  key: string;
  /** Punctuation, a symbol or a line break ("\n"), not a word: it has no part of speech and no position. */
  symbol?: boolean;
}

/** A sentence's words, and which word each token belongs to (-1: a token with no word in it, such as punctuation). */
export interface SentenceWords {
  words: WordInContext[];
  wordOfToken: number[];
}

const MARKERS = /^[\sĠĊ▁]+|[\sĠĊ▁]+$/g;

/** A token as a word: without tokenizer markers, spaces, case and surrounding punctuation ("" where nothing is left). */
function normaliseToken(token: string): string {
  return apostrophes(token).replace(MARKERS, '').replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '').toLowerCase();
}

/** Curly apostrophes, also as GPT-2's byte-level encoding writes them ("âĢĻ"), as a plain one. */
function apostrophes(token: string): string {
  return token.replace(/âĢĻ|[’‘]/g, "'");
}

/** What a token without letters or digits shows: a line break, or its punctuation or symbols ("" for spaces only). */
function symbolOf(token: string): string {
  if (/^[ \t]*(?:\r?\n|Ċ)+[ \t]*$/.test(token)) return '\n';
  return token.replace(MARKERS, '');
}

const startsWord = (token: string) => /^[\sĠĊ▁]/.test(token);

const sentenceCache = new Map<string, SentenceWords>();

/** The words of a sentence given as tokens (words of a corpus, or a tokenizer's pieces). */
export function sentenceWords(tokens: readonly string[]): SentenceWords {
  const key = tokens.join('\u0000');
  const cached = sentenceCache.get(key);
  if (cached) return cached;
  // Where any token but the first starts with a space, tokens without one continue the word before them.
  const pieces = tokens.slice(1).some(startsWord);
  const raw: { text: string; written: string }[] = [];
  const wordOfToken: number[] = [];
  const symbols = new Set<number>();
  tokens.forEach((token, i) => {
    const text = normaliseToken(token);
    // An apostrophe alone between two pieces ("don", "'", "t", as GPT-2 writes a curly one) belongs to the word.
    const last = raw[raw.length - 1];
    if (apostrophes(token).replace(MARKERS, '') === "'" && last && !symbols.has(raw.length - 1) && /^[\p{L}]/u.test(tokens[i + 1] ?? '')) {
      last.text += "'";
      wordOfToken.push(raw.length - 1);
      return;
    }
    if (text === '') {
      const symbol = symbolOf(token);
      if (symbol === '') {
        wordOfToken.push(-1);
        return;
      }
      symbols.add(raw.length);
      raw.push({ text: symbol, written: symbol });
      wordOfToken.push(raw.length - 1);
      return;
    }
    // A piece continues the word before it where the two make a word, or where the piece alone is none ("walk" +
    // "ing", "butter" + "fly", "Gw" + "en", "don" + "'t"); "River" after " river" is a word of its own.
    const previous = raw[raw.length - 1];
    const clitic = /^'/.test(apostrophes(token));
    const joins =
      i > 0 &&
      previous !== undefined &&
      !symbols.has(raw.length - 1) &&
      wordOfToken[i - 1]! >= 0 &&
      (clitic || previous.text.endsWith("'") || (pieces && !startsWord(token) && /^[\p{L}\p{N}]/u.test(token) && (isWord(previous.text + text) || !isWord(text))));
    if (joins) {
      previous.text += clitic ? `'${text}` : text;
      wordOfToken.push(raw.length - 1);
    } else {
      raw.push({ text, written: token.replace(MARKERS, '') });
      wordOfToken.push(raw.length - 1);
    }
  });
  // Parts of speech and positions are the words' alone: symbols have neither. A record may hold several sentences:
  // positions count within each (a ".", "!" or "?" ends one).
  const wordIndex: number[] = raw.map(() => -1);
  const sentenceOf: number[] = raw.map(() => 0);
  const sentenceLength: number[] = [0];
  raw.forEach((w, i) => {
    if (symbols.has(i)) {
      if (/[.!?]/.test(w.text) && sentenceLength.at(-1)! > 0) sentenceLength.push(0);
      return;
    }
    sentenceOf[i] = sentenceLength.length - 1;
    wordIndex[i] = sentenceLength[sentenceLength.length - 1]!++;
  });
  const tagged = tagWords(raw.filter((_, i) => !symbols.has(i)).map((w) => w.text));
  const wordNumber: number[] = [];
  let k = 0;
  raw.forEach((_, i) => wordNumber.push(symbols.has(i) ? -1 : k++));
  const words = raw.map((w, i) => {
    const symbol = symbols.has(i);
    const tags = symbol ? new Set<string>() : tagged[wordNumber[i]!]!;
    const capitalised = /^\p{Lu}/u.test(w.written);
    return { text: w.text, capitalised, index: wordIndex[i]!, count: sentenceLength[sentenceOf[i]!]!, tags, key: `${w.text}\u0001${[...tags].sort().join(',')}\u0001${capitalised ? 1 : 0}`, ...(symbol ? { symbol } : {}) };
  });
  const result = { words, wordOfToken };
  if (sentenceCache.size > 50_000) sentenceCache.clear();
  sentenceCache.set(key, result);
  return result;
}

/** compromise's part-of-speech tags for each word, in context (one set per word; empty where it could not align). */
function tagWords(words: string[]): Set<string>[] {
  const out = words.map(() => new Set<string>());
  const terms = (nlp(words.join(' ')).json() as { terms: { text: string; tags: string[] }[] }[]).flatMap((s) => s.terms);
  let t = 0;
  for (let w = 0; w < words.length && t < terms.length; w++) {
    // compromise may split a word (contractions) or drop one; align on the term's text.
    while (t < terms.length && terms[t]!.text.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '') === '' ) t++;
    const term = terms[t];
    if (!term) break;
    const text = term.text.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
    if (text === words[w] || words[w]!.startsWith(text)) {
      for (const tag of term.tags) out[w]!.add(tag);
      t++;
      while (t < terms.length && terms[t]!.text === '') for (const tag of terms[t++]!.tags) out[w]!.add(tag);
    }
  }
  return out;
}

/** A word WordNet or the closed classes know (any inflection). */
function isWord(text: string): boolean {
  const l = lemmasOf(text);
  return l.n.length + l.v.length + l.a.length + l.r.length > 0 || /^\d+$/.test(text) || CLOSED_CLASS.has(text);
}

const CLOSED_CLASS = new Set(
  'a an the and or but nor of in on at by for with from to into onto upon about above below over under between among through during before after since until as than that this these those which who whom whose what when where why how is are was were be been being am has have had do does did not no so it its he him his she her they them their we us our you your i me my'.split(' '),
);

const lemmaCache = new Map<string, Record<Pos, string[]>>();

/** A word's base forms that WordNet knows, per part of speech (irregular forms included: "ran" → "run"). */
export function lemmasOf(word: string): Record<Pos, string[]> {
  let l = lemmaCache.get(word);
  if (!l) {
    const wn = wordNet();
    const known = (pos: Pos, candidates: string[]) => [...new Set(candidates.filter((c) => c && wn.sensesOfLemma(c, pos).length > 0))];
    l = {
      n: known('n', [word, lemmatizer.lemmatizeNoun(word), pluralize.singular(word), ...wn.lemmas(word, 'n')]),
      v: known('v', [word, lemmatizer.lemmatizeVerb(word), ...wn.lemmas(word, 'v')]),
      a: known('a', [word, lemmatizer.lemmatizeAdjective(word), ...wn.lemmas(word, 'a')]),
      r: known('r', [word]),
    };
    lemmaCache.set(word, l);
  }
  return l;
}

/** A word's senses for a part of speech, each with a weight: 1 for the most frequent, less for the next ones. */
export function sensesOf(word: string, pos: Pos, max = 3): { synset: Synset; weight: number }[] {
  const wn = wordNet();
  const out: { synset: Synset; weight: number }[] = [];
  for (const lemma of lemmasOf(word)[pos]) {
    wn.sensesOfLemma(lemma, pos)
      .slice(0, max)
      .forEach((synset, rank) => out.push({ synset, weight: rank === 0 ? 1 : 0.3 }));
  }
  return out;
}
