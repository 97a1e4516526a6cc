// The corpus's sources, tokenizers and segmentations: the user's .txt and .jsonl files (and every way they can be
// wrong, reported with file and line), the Brown corpus as prose, GPT-2's tokens, fixed-length windows, and the
// digest that puts the files' content into the corpus step's cache key.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import type { Pipeline } from '../pipelines/schema';
import { brownTexts, detokenise } from '../data/brown';
import { buildCorpus, corpusSequences, sentence, SPECIAL, type Corpus } from '../data/corpus';
import { corpusSourceDigest } from '../data/sources';
import { InvalidInputError } from '../data/errors';
import { firstInvalidUtf8, splitSentences } from '../data/text-files';
import { gpt2Tokenise, tokenise } from '../data/tokenizers';

const ANIMALS = ['fox', 'heron', 'otter', 'badger', 'wren', 'salmon', 'beaver'];
const COLOURS = ['red', 'grey', 'brown', 'white', 'black'];
const VERBS = ['saw', 'chased', 'found', 'watched', 'followed', 'ignored'];
const PLACES = ['river', 'mill', 'bridge', 'meadow', 'orchard'];

/** Sentence k of 1,050 distinct ones made of the same few dozen words (so that no word is rare). */
function made(k: number): string {
  const pick = (words: string[], radix: number) => words[Math.floor(k / radix) % words.length];
  return `The ${pick(COLOURS, 1)} ${pick(ANIMALS, 5)} ${pick(VERBS, 35)} boats near the ${pick(PLACES, 210)} at dawn.`;
}

/** Sentences `offset` … `offset + n - 1` (see `made`), four to a paragraph, every other paragraph hard-wrapped. */
function prose(n: number, offset: number): string {
  const paragraphs: string[] = [];
  for (let i = 0; i < n; i += 4) {
    const sentences = [];
    for (let j = i; j < Math.min(n, i + 4); j++) sentences.push(made(j + offset));
    paragraphs.push(i % 8 === 0 ? sentences.join(' ') : sentences.join('\n')); // a line break inside a paragraph is a space
  }
  return paragraphs.join('\n\n') + '\n';
}

let dir: string;
/** A pipeline that reads `paths` (relative to the temporary directory), with the smallest splits the schema allows. */
function pipeline(corpus: string, sentences = 200): Pipeline {
  const text = `name: t
corpus:
  sentences: ${sentences}
  heldOutFraction: 0.3
${corpus.replace(/^/gm, '  ')}
model:
  vocabularySize: 1000
  hidden: [{ name: h1, width: 8 }]
interpretability: { explanationSequences: 50, scoringSequences: 25, topExamples: 5, randomExamples: 5, scoringRandomExamples: 5 }
alignment: { sequences: 50 }
`;
  return parsePipeline(text, join(dir, 'p.yaml'), dir);
}
const filesCorpus = (paths: string[], extra = '') => pipeline(`source: files\npaths: ${JSON.stringify(paths)}\n${extra}`);

/** The error a corpus build throws: an InvalidInputError whose message contains every one of `parts`. */
function assertCorpusError(p: () => Pipeline, ...parts: (string | RegExp)[]) {
  assert.throws(
    () => buildCorpus(p()),
    (err: unknown) => {
      assert.ok(err instanceof InvalidInputError, `expected an InvalidInputError, got ${String(err)}`);
      for (const part of parts) {
        if (typeof part === 'string') assert.ok(err.message.includes(part), `"${err.message}" does not name ${part}`);
        else assert.match(err.message, part);
      }
      return true;
    },
  );
}

const text = (c: Corpus, i: number) => [...sentence(c, i)].map((id) => c.meta.vocabulary[id]!);

describe('corpus from files', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'legible-corpus-'));
    mkdirSync(join(dir, 'texts'));
    writeFileSync(join(dir, 'texts', 'a.txt'), `Dr. Smith went to the river at dawn. He saw a heron.\n\n${prose(120, 0)}`);
    writeFileSync(join(dir, 'texts', 'b.txt'), prose(100, 500));
    const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: `The ${ANIMALS[i % 7]} counted ${i + 5000} stones. It was a quiet morning by the water.`, id: i }));
    writeFileSync(join(dir, 'c.jsonl'), `${lines.slice(0, 10).join('\n')}\n\n${lines.slice(10).join('\n')}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads .txt documents and .jsonl lines, cut into sentences, with the words tokenizer', () => {
    const p = filesCorpus(['texts/*.txt', 'c.jsonl']);
    const { sequences, counts } = corpusSequences(p.corpus);
    assert.deepEqual(sequences[0], ['dr', 'smith', 'went', 'to', 'the', 'river', 'at', 'dawn'], 'no sentence break after "Dr."');
    assert.deepEqual(sequences[2], ['the', 'red', 'fox', 'saw', 'boats', 'near', 'the', 'river', 'at', 'dawn'], 'paragraphs read after a blank line');
    // a.txt: 2 + 120 sentences, in 31 documents; b.txt: 100 in 25; c.jsonl: 2 sentences a line, 30 lines.
    assert.equal(counts.length, 31 + 25 + 30);
    const perFile = (suffix: string) => counts.filter((c) => c.document.file!.endsWith(suffix)).reduce((n, c) => n + c.units, 0);
    assert.deepEqual([perFile('a.txt'), perFile('b.txt'), perFile('c.jsonl')], [122, 100, 60]);
    assert.ok(counts.find((c) => c.document.file!.endsWith('c.jsonl'))!.document.where.endsWith('c.jsonl:1'));
    assert.ok(counts.filter((c) => c.document.file!.endsWith('c.jsonl')).at(-1)!.document.where.endsWith('c.jsonl:31'), 'the blank line counts as a line');

    const corpus = buildCorpus(p);
    assert.equal(corpus.meta.source, 'files');
    assert.equal(corpus.meta.tokenizer, 'words');
    assert.deepEqual(corpus.meta.vocabulary.slice(0, 4), [...SPECIAL, 'the']);
    const trainingWords = new Set([...corpus.splits.train].flatMap((i) => text(corpus, i)));
    assert.equal(corpus.meta.vocabulary.length, SPECIAL.length + trainingWords.size, 'every training word, fewer than vocabularySize');
    assert.equal(corpus.meta.sentences + corpus.meta.heldOutRepeats!, 200);
    for (let i = 0; i < corpus.meta.sentences; i++) assert.ok(text(corpus, i).length >= 4 && text(corpus, i).length <= 24);
  });

  it('tokenises with GPT-2: tokens keep their leading spaces, and join back into the sentence', () => {
    const p = filesCorpus(['texts/a.txt', 'texts/b.txt', 'c.jsonl'], 'tokenizer: gpt2');
    const { sequences } = corpusSequences(p.corpus);
    assert.deepEqual(sequences[0], ['Dr', '.', ' Smith', ' went', ' to', ' the', ' river', ' at', ' dawn', '.']);
    assert.equal(sequences[2]!.join(''), 'The red fox saw boats near the river at dawn.');
    const corpus = buildCorpus(p);
    assert.equal(corpus.meta.tokenizer, 'gpt2');
    for (const token of [' the', ' saw', ' boats', 'The', '.']) assert.ok(corpus.meta.vocabulary.includes(token), `"${token}" in the vocabulary`);
    assert.ok(!corpus.meta.vocabulary.includes('the'), 'no word without its space: "the" only starts a sentence as "The"');
    assert.match(text(corpus, 0).join(''), /^The \w+ \w+ \w+ /);
  });

  it('cuts each document into windows of exactly maxTokens tokens, dropping the remainder', () => {
    const p = filesCorpus(['texts/*.txt', 'c.jsonl'], 'segment: windows\nmaxTokens: 8\nminTokens: 2');
    const { sequences, counts } = corpusSequences(p.corpus);
    assert.ok(sequences.every((s) => s.length === 8));
    assert.equal(sequences.length, counts.reduce((n, c) => n + Math.floor(c.units / 8), 0));
    // The second document of a.txt: windows run on across its sentences.
    const first = counts[0]!.sequences;
    const words = tokenise(`${made(0)} ${made(1)}`);
    assert.deepEqual([sequences[first], sequences[first + 1]], [words.slice(0, 8), words.slice(8, 16)]);
    const gpt2 = filesCorpus(['texts/*.txt', 'c.jsonl'], 'segment: windows\nmaxTokens: 8\ntokenizer: gpt2');
    const corpus = buildCorpus(gpt2);
    assert.equal(corpus.meta.segment, 'windows');
    for (let i = 0; i < corpus.meta.sentences; i++) assert.equal(sentence(corpus, i).length, 8);
  });

  it('rejects a path or glob that matches nothing, and a directory, naming them', () => {
    assertCorpusError(() => filesCorpus(['texts/*.md']), 'corpus.paths: no file matches', join(dir, 'texts', '*.md'));
    assertCorpusError(() => filesCorpus(['missing.txt']), 'corpus.paths: no file matches', join(dir, 'missing.txt'), 'no such file');
    assertCorpusError(() => filesCorpus(['texts']), join(dir, 'texts'), 'is a directory');
  });

  it('rejects empty, binary and non-UTF-8 files, and unsupported extensions, naming the file (and line)', () => {
    const write = (name: string, content: string | Buffer) => {
      writeFileSync(join(dir, name), content);
      return join(dir, name);
    };
    assertCorpusError(() => filesCorpus(['texts/a.txt', 'empty.txt']), `${write('empty.txt', '')}: the file is empty`);
    assertCorpusError(() => filesCorpus(['blank.txt']), `${write('blank.txt', ' \n\n \n')}: the file is empty`);
    const binary = write('binary.txt', Buffer.from([0x48, 0x69, 0x0a, 0x00, 0x01, 0x02]));
    assertCorpusError(() => filesCorpus(['binary.txt']), binary, 'binary file', 'byte offset 3');
    // "café" in Latin-1 on the second line: 0xE9 is not followed by a continuation byte.
    const latin1 = write('latin1.txt', Buffer.concat([Buffer.from('A fine day.\nA caf'), Buffer.from([0xe9]), Buffer.from(' by the river.\n')]));
    assertCorpusError(() => filesCorpus(['latin1.txt']), `${latin1}:2: not UTF-8`, 'byte 0xE9 at byte offset 17');
    assertCorpusError(() => filesCorpus(['notes.csv']), `${write('notes.csv', 'a,b\n')}: unsupported file type ".csv"`);
    assertCorpusError(() => filesCorpus(['README']), `${write('README', 'text\n')}: unsupported file type "(no extension)"`);
  });

  it('rejects a .jsonl line that is not JSON or has no string "text", with file:line', () => {
    const good = JSON.stringify({ text: 'A sentence.' });
    writeFileSync(join(dir, 'bad-json.jsonl'), `${good}\n{"text": "unterminated\n`);
    assertCorpusError(() => filesCorpus(['bad-json.jsonl']), `${join(dir, 'bad-json.jsonl')}:2: not a JSON object`);
    writeFileSync(join(dir, 'no-text.jsonl'), `${good}\n\n{"body": "A sentence."}\n`);
    assertCorpusError(() => filesCorpus(['no-text.jsonl']), `${join(dir, 'no-text.jsonl')}:3: the line has no string "text" field`);
    writeFileSync(join(dir, 'number-text.jsonl'), `{"text": 5}\n`);
    assertCorpusError(() => filesCorpus(['number-text.jsonl']), `${join(dir, 'number-text.jsonl')}:1: the line has no string "text" field`);
    writeFileSync(join(dir, 'array.jsonl'), `["A sentence."]\n`);
    assertCorpusError(() => filesCorpus(['array.jsonl']), `${join(dir, 'array.jsonl')}:1: the line has no string "text" field`);
  });

  it('says which files gave how many sentences when there are too few', () => {
    writeFileSync(join(dir, 'short-a.txt'), prose(30, 0));
    writeFileSync(join(dir, 'short-b.txt'), `${prose(20, 500)}\nToo short.\n`);
    assertCorpusError(
      () => filesCorpus(['short-*.txt']),
      'corpus.sentences: the source has only 50 distinct sentences of 4 to 24 words, 200 asked for',
      `${join(dir, 'short-a.txt')}: 30 sentences, 30 of 4 to 24 words`,
      `${join(dir, 'short-b.txt')}: 21 sentences, 20 of 4 to 24 words`,
    );
    // 350 GPT-2 tokens in 8 paragraphs: windows do not cross a document's end, so 11 windows of 24, not 14.
    assertCorpusError(() => filesCorpus(['short-a.txt'], 'segment: windows\ntokenizer: gpt2'), 'distinct windows of 24 tokens', `${join(dir, 'short-a.txt')}: 350 tokens, 11 windows)`);
  });

  it('digests the content of the files it reads: an edit, or a file more, changes the digest', () => {
    writeFileSync(join(dir, 'd1.txt'), 'One text.\n');
    writeFileSync(join(dir, 'd2.txt'), 'Another text.\n');
    const digest = () => corpusSourceDigest(filesCorpus(['d*.txt']).corpus);
    const first = digest();
    assert.match(first, /^[0-9a-f]{64}$/);
    assert.equal(digest(), first, 'the same files give the same digest');
    writeFileSync(join(dir, 'd2.txt'), 'Another text!\n');
    const edited = digest();
    assert.notEqual(edited, first);
    writeFileSync(join(dir, 'd3.txt'), 'A third.\n');
    assert.notEqual(digest(), edited);
    assert.throws(() => corpusSourceDigest(filesCorpus(['none-*.txt']).corpus), /no file matches/);
    const builtIn = (source: string) => corpusSourceDigest(pipeline(`source: ${source}`).corpus);
    assert.equal(builtIn('brown'), builtIn('brown'));
    assert.notEqual(builtIn('brown'), builtIn('wordnet-glosses'));
  });
});

describe('the Brown corpus', () => {
  before(() => (dir = mkdtempSync(join(tmpdir(), 'legible-corpus-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses the 500 texts into prose, once per process', () => {
    const started = performance.now();
    const texts = brownTexts();
    const ms = performance.now() - started;
    assert.equal(texts.length, 500);
    assert.deepEqual([texts[0]!.id, texts.at(-1)!.id], ['ca01', 'cr09']);
    const sentences = texts.flatMap((t) => t.sentences);
    assert.ok(sentences.length > 55000, `${sentences.length} sentences`);
    const words = sentences.reduce((n, s) => n + tokenise(s).length, 0);
    assert.ok(words > 950000, `${words} words`);
    assert.equal(brownTexts(), texts, 'parsed once');
    assert.ok(ms < 5000, `parsing took ${ms.toFixed(0)} ms`);
    assert.equal(
      texts[0]!.sentences[0],
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    );
    const tokenised = sentences.filter((s) => /``|''|\s[,.;:?!)](?!\d)|\w\/(?:at|nn|vbd?|in|jj)\b/.test(s));
    assert.deepEqual(tokenised, [], 'no Brown tokenisation left');
  });

  it('detokenises punctuation, quotes and contractions', () => {
    assert.equal(detokenise(['He', 'said', ',', '``', 'no', '.', "''"]), 'He said, "no."');
    assert.equal(detokenise(['Mr.', 'Allen', 'Jr.', '.']), 'Mr. Allen Jr.');
    assert.equal(detokenise(['(', 'see', 'below', ')', 'it', "'s", 'fine', ';', ';']), '(see below) it\'s fine;');
    assert.equal(detokenise(['they', 'do', "n't", 'say', "'", 'pro', "'", 'or', "'", 'con', "'", '?']), "they don't say 'pro' or 'con'?");
  });

  it('builds a GPT-2 corpus of real prose, and windows of exactly maxTokens', () => {
    const corpus = buildCorpus(pipeline('source: brown\ntokenizer: gpt2', 2000));
    assert.equal(corpus.meta.source, 'brown');
    for (const token of [' the', ' of', ',', ' said', ' "']) assert.ok(corpus.meta.vocabulary.includes(token), `"${token}" in the vocabulary`);
    const sample = Array.from({ length: 50 }, (_, i) => text(corpus, i).join('')).join(' ');
    assert.match(sample, /\w+, \w+/, 'commas attached to the word before');
    const windows = buildCorpus(pipeline('source: brown\ntokenizer: gpt2\nsegment: windows\nmaxTokens: 16', 2000));
    assert.equal(windows.meta.sentences, windows.splits.train.length + windows.splits.heldOut.length);
    for (let i = 0; i < windows.meta.sentences; i++) assert.equal(sentence(windows, i).length, 16);
  });
});

describe('text helpers', () => {
  it('cuts sentences, keeping titles with their names', () => {
    assert.deepEqual(splitSentences('Mrs. Hale met Dr. Watts. They spoke! Did it rain? Yes.'), ['Mrs. Hale met Dr. Watts.', 'They spoke!', 'Did it rain?', 'Yes.']);
  });

  it('finds the first byte that is not UTF-8', () => {
    const bytes = (...b: number[]) => Uint8Array.from(b);
    assert.equal(firstInvalidUtf8(Buffer.from('café 🙂')), Buffer.from('café 🙂').length);
    assert.equal(firstInvalidUtf8(bytes(0x61, 0xc3)), 1, 'truncated');
    assert.equal(firstInvalidUtf8(bytes(0x61, 0xc0, 0xaf)), 1, 'overlong');
    assert.equal(firstInvalidUtf8(bytes(0xed, 0xa0, 0x80)), 0, 'surrogate');
    assert.equal(firstInvalidUtf8(bytes(0x61, 0x62, 0x80)), 2, 'stray continuation byte');
  });

  it('gives every GPT-2 token its own text, partial UTF-8 bytes spelled out', () => {
    assert.deepEqual(gpt2Tokenise(' river bank'), [' river', ' bank']);
    const tokens = gpt2Tokenise('日本 🙂 <|endoftext|>');
    assert.ok(tokens.some((t) => t.includes('<0x')), tokens.join('|'));
    assert.equal(tokens.filter((t) => t === '').length, 0);
    assert.ok(tokens.join('').includes('<|endoftext|>'), 'the special token is read as text');
  });
});
