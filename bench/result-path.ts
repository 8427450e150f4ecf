import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** dir/STEM.json, or the first of dir/STEM-2.json, dir/STEM-3.json, ... that no file (nor its report) holds yet. */
export function freshResultPath(dir: string, stem: string): string {
  for (let n = 1; ; n++) {
    const name = n === 1 ? stem : `${stem}-${n}`;
    if (![`${name}.json`, `${name}.md`, `${name}.svg`].some((f) => existsSync(join(dir, f)))) return join(dir, `${name}.json`);
  }
}
