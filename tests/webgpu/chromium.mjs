// chromium.mjs — headless Chromium (Debian's chromium, driven by web/node_modules'
// playwright-core) with WebGPU on SwiftShader, for the page tests. Prints why and exits 77 when
// either is missing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const web = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../web');

export async function launchChromium(out) {
  let chromium;
  try {
    ({ chromium } = await import(path.join(web, 'node_modules/playwright-core/index.mjs')));
  } catch (e) { out(`skip: playwright-core missing (${e.message})`); process.exit(77); }
  const exe = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => fs.existsSync(p));
  if (!exe) { out('skip: no chromium'); process.exit(77); }
  return chromium.launch({
    executablePath: exe,
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-angle=swiftshader',
           '--enable-features=Vulkan', '--disable-dev-shm-usage'],
  });
}
