/** The one module that loads the compiled addon. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding } from './binding.js';

let cached: NativeBinding | undefined;

function findAddon(): string {
  const name = process.env.NANO_SERVING_ADDON ?? join('build', 'Release', 'nano_serving.node');
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, name);
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`nano-serving: native addon not found (${name}); run \`npm install\` or \`npm run build:native\``);
}

export function loadNative(): NativeBinding {
  if (!cached) cached = createRequire(import.meta.url)(findAddon()) as NativeBinding;
  return cached;
}
