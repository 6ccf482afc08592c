// Node only: a package file's bytes as an init() argument.
import { readFile } from 'node:fs/promises';

export async function nodeInput(url) {
  return { module_or_path: await readFile(url) };
}
