// The corpus's tokenizers, which turn a text into the token strings the vocabulary is made of: `words` (lower-case
// words and numbers, punctuation dropped: what the corpus has always used) and `gpt2` (GPT-2's byte-level BPE, from
// the npm package gpt-tokenizer, each token kept as its own text, leading space included: " river").
import { encode } from 'gpt-tokenizer/encoding/r50k_base';
import gpt2Ranks from 'gpt-tokenizer/bpeRanks/r50k_base';

export type TokenizerName = 'words' | 'gpt2';

/**
 * The words of a text, lower-cased: runs of letters a-z (with one inner apostrophe: "don't", "river's") and runs of
 * digits. Everything else (punctuation, accented and non-Latin letters) separates words and is dropped.
 */
export function tokenise(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+(?:'[a-z]+)?|\d+/g) ?? [];
}

let gpt2Texts: string[] | undefined;
let gpt2Ids: Map<string, number> | undefined;

/**
 * The text of every GPT-2 token, by id (50,256 of them; <|endoftext|> is not among them). A token whose bytes are
 * not whole UTF-8 characters (part of an emoji or a CJK character: 344 tokens) is written with its bytes spelled
 * out, printable ASCII as itself and the rest as <0xNN> (" <0xE6>"), so that every token has its own distinct text.
 * (gpt-tokenizer's `decode([id])` cannot be used for those: it returns "" and carries the bytes into the next call.)
 */
function gpt2TokenTexts(): string[] {
  if (!gpt2Texts) {
    const texts = gpt2Ranks.map((t) =>
      typeof t === 'string' ? t : t.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)).join(''),
    );
    if (new Set(texts).size !== texts.length) throw new Error('gpt2 tokenizer: two GPT-2 tokens have the same text');
    gpt2Texts = texts;
  }
  return gpt2Texts;
}

/**
 * A text as GPT-2 reads it: its byte-level BPE tokens (the r50k_base encoding of gpt-tokenizer), each as its text
 * ("The", " river", " bank", ","), leading spaces included. "<|endoftext|>" in the text is read as ordinary
 * characters, not as the special token. About 9 MB of text (2 million tokens) a second on one core.
 */
export function gpt2Tokenise(text: string): string[] {
  const texts = gpt2TokenTexts();
  return encode(text, { disallowedSpecial: new Set() }).map((id) => texts[id]!);
}

/** GPT-2's id (r50k_base) of each token text gpt2Tokenise gives; undefined for any other text. */
export function gpt2TokenId(text: string): number | undefined {
  gpt2Ids ??= new Map(gpt2TokenTexts().map((t, id) => [t, id]));
  return gpt2Ids.get(text);
}

/** The tokenizer of that name: a function from a text to its token strings. */
export function tokenizer(name: TokenizerName): (text: string) => string[] {
  return name === 'gpt2' ? gpt2Tokenise : tokenise;
}
