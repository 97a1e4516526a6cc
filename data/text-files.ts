// The `files` corpus source: the user's own text, from `corpus.paths` (files or globs). Finds the files, reads and
// checks them (UTF-8 text, not binary, not empty), cuts .txt files into documents at blank lines and reads .jsonl
// files one document per line from its "text" field, cuts documents into sentences, and hashes the files' content
// for the corpus step's cache key. Every problem is an InvalidInputError naming the file (and line where there is one).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { InvalidInputError } from './errors';

/** One document of a text file: a blank-line-separated block of a .txt file, or one line of a .jsonl file. */
export interface TextFileDocument {
  /** The file's absolute path. */
  file: string;
  /** The 1-based line the document starts on. */
  line: number;
  /** Its text, every run of white space (line breaks included) made one space, trimmed. */
  text: string;
}

/** The file extensions `files` reads, lower-case. */
export const TEXT_FILE_EXTENSIONS = ['.txt', '.jsonl'];

/**
 * The files that `paths` name, in order: each path is a file, or a glob (tinyglobby syntax: * ** ? [ab] {a,b})
 * whose matches are taken sorted; a file named twice is read once. Paths are expected absolute (the pipeline
 * loader makes them so). Throws InvalidInputError for a path that is no file, a glob that matches no file, or a file
 * whose extension is not .txt or .jsonl.
 */
export function resolveTextFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    let matches: string[];
    if (existsSync(path)) {
      if (statSync(path).isDirectory())
        throw new InvalidInputError(`corpus.paths: ${path} is a directory; name its files, or a glob such as ${join(path, '*.txt')}`);
      matches = [path];
    } else if (isDynamicPattern(path)) {
      matches = globFiles(path);
      if (matches.length === 0) throw new InvalidInputError(`corpus.paths: no file matches ${path}`);
    } else {
      throw new InvalidInputError(`corpus.paths: no file matches ${path} (there is no such file)`);
    }
    for (const file of matches) if (!files.includes(file)) files.push(file);
  }
  for (const file of files) {
    if (!TEXT_FILE_EXTENSIONS.includes(extname(file).toLowerCase()))
      throw new InvalidInputError(`corpus.paths: ${file}: unsupported file type "${extname(file) || '(no extension)'}"; the corpus reads .txt (documents separated by blank lines) and .jsonl (one {"text": …} object a line)`);
  }
  return files;
}

/** The files an absolute glob matches, sorted: the glob's leading directories without wildcards are where it looks. */
function globFiles(pattern: string): string[] {
  const parts = pattern.split(sep);
  let fixed = 0;
  while (fixed < parts.length - 1 && !isDynamicPattern(parts[fixed]!)) fixed++;
  const cwd = parts.slice(0, fixed).join(sep) || sep;
  return globSync(parts.slice(fixed).join('/'), { cwd, absolute: true, onlyFiles: true, expandDirectories: false }).sort();
}

/**
 * The text of one file, checked: throws InvalidInputError naming the file if it cannot be read, is empty (or only
 * white space), holds a NUL byte (a binary file: the byte offset is given), or is not UTF-8 (the line and byte
 * offset of the first invalid byte are given). A leading byte-order mark is dropped; line ends become "\n".
 */
export function readTextFile(file: string): string {
  const bytes = readBytes(file);
  if (bytes.length === 0) throw new InvalidInputError(`corpus.paths: ${file}: the file is empty`);
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new InvalidInputError(`corpus.paths: ${file}: a binary file, not text (a NUL byte at byte offset ${nul})`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, at).reduce((n, b) => n + (b === 0x0a ? 1 : 0), 1);
    throw new InvalidInputError(`corpus.paths: ${file}:${line}: not UTF-8 text (byte 0x${bytes[at]!.toString(16).toUpperCase().padStart(2, '0')} at byte offset ${at}); save the file as UTF-8`);
  }
  if (text.trim() === '') throw new InvalidInputError(`corpus.paths: ${file}: the file is empty (only white space)`);
  return text.replace(/\r\n?/g, '\n');
}

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InvalidInputError(`corpus.paths: ${file}: cannot read the file (${(err as Error).message})`);
  }
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 character (bytes.length if none). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let length: number;
    let min = 0x80; // the smallest second byte allowed (E0, F0 exclude overlong forms)
    let max = 0xbf; // the largest (ED excludes surrogates, F4 code points above U+10FFFF)
    if (b < 0x80) length = 1;
    else if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) min = 0xa0;
      if (b === 0xed) max = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) min = 0x90;
      if (b === 0xf4) max = 0x8f;
    } else return i;
    for (let k = 1; k < length; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? min : 0x80) || c > (k === 1 ? max : 0xbf)) return i;
    }
    i += length;
  }
  return bytes.length;
}

/**
 * The documents of one file (checked as `readTextFile` does). A .txt file's documents are its blocks of text
 * separated by blank lines; a .jsonl file's are its lines, each a JSON object whose string "text" field is the
 * document (blank lines are skipped). Throws InvalidInputError with file:line for a .jsonl line that is not JSON,
 * not an object, or has no string "text".
 */
export function readTextFileDocuments(file: string): TextFileDocument[] {
  const lines = readTextFile(file).split('\n');
  const documents: TextFileDocument[] = [];
  const flat = (text: string) => text.replace(/\s+/g, ' ').trim();
  if (extname(file).toLowerCase() === '.jsonl') {
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new InvalidInputError(`corpus.paths: ${file}:${i + 1}: not a JSON object (${(err as Error).message})`);
      }
      const text = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { text?: unknown }).text : undefined;
      if (typeof text !== 'string') throw new InvalidInputError(`corpus.paths: ${file}:${i + 1}: the line has no string "text" field (each line of a .jsonl file must be an object like {"text": "…"})`);
      const document = flat(text);
      if (document !== '') documents.push({ file, line: i + 1, text: document });
    });
  } else {
    let start = -1;
    const block: string[] = [];
    const close = () => {
      if (block.length > 0) documents.push({ file, line: start + 1, text: flat(block.join(' ')) });
      block.length = 0;
    };
    lines.forEach((line, i) => {
      if (line.trim() === '') return close();
      if (block.length === 0) start = i;
      block.push(line);
    });
    close();
  }
  return documents;
}

const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });
/** Abbreviations that end in a full stop but rarely end a sentence ("Dr. Smith"): ICU's segmenter breaks after them. */
const TITLE = /(?:^|[\s("])(?:Mr|Mrs|Ms|Dr|Prof|St|Mt|Gen|Col|Lt|Sgt|Capt|Gov|Sen|Rep|Rev|Fig|vs)\.$/;

/**
 * A document cut into sentences by the Unicode sentence-break rules (Intl.Segmenter, built into Node), trimmed; a
 * break right after a title such as "Dr." or "Mr." is undone, since ICU's rules put one there.
 */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  let pending = '';
  for (const { segment } of segmenter.segment(text)) {
    pending += segment;
    if (!TITLE.test(pending.trimEnd())) {
      const sentence = pending.trim();
      if (sentence !== '') sentences.push(sentence);
      pending = '';
    }
  }
  if (pending.trim() !== '') sentences.push(pending.trim());
  return sentences;
}

/**
 * A sha256 (hex) over the content of every file `paths` name, in reading order (each file's byte length, then its
 * bytes): it changes when a file is edited, added to a glob's matches or removed; the files' names do not enter it.
 * Throws the InvalidInputError of `resolveTextFiles` or `readTextFile` for a path or file the corpus cannot read.
 */
export function textFilesDigest(paths: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of resolveTextFiles(paths)) {
    const bytes = readBytes(file);
    hash.update(`${bytes.length}\n`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}
