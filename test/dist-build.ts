/** Builds dist/ (tsc -p tsconfig.build.json) when a TypeScript source is newer than `target`, for tests that run the built JavaScript. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');

/** Newest modification time of the TypeScript sources the build compiles. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of ['src', 'machines', 'streams', 'bench']) walk(join(ROOT, dir));
  return newest;
}

export function ensureDist(target: string): void {
  if (existsSync(target) && statSync(target).mtimeMs >= newestSource()) return; // dist is up to date
  // Emits even if another file in the tree fails the type check; only the emitted JavaScript matters here.
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'pipe' });
  } catch {
    // type errors elsewhere are someone else's; the emit is what we need
  }
}
