// node-gpu.mjs — WebGPU under Node: Dawn from the `webgpu` package (web/node_modules).
// On a machine without a GPU set VK_ICD_FILENAMES to SwiftShader's ICD (Debian's chromium
// package ships /usr/lib/chromium/vk_swiftshader_icd.json); gpuFromNode() does that itself when
// no Vulkan driver is configured and the ICD exists. DAWN_FLAGS adds Dawn toggles (space-separated
// key=value entries), e.g.
// "enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia". DAWN_NODE=path/to/dawn.node
// loads a bare addon instead of the package (the runtime bundle for GPU machines).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export async function gpuFromNode({ swiftshader = 'auto' } = {}) {
  if (swiftshader === true || (swiftshader === 'auto' && !process.env.VK_ICD_FILENAMES && !fs.existsSync('/dev/nvidia0') && fs.existsSync(SWIFTSHADER_ICD)))
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  let mod;
  try {
    if (process.env.DAWN_NODE) {   // a bare dawn.node addon (shared/tools/webgpu-runtime-bundle.sh)
      const { createRequire } = await import('node:module');
      mod = createRequire(import.meta.url)(process.env.DAWN_NODE);
    } else {
      // web/node_modules in the repository, else the package as Node resolves it (doppler-web
      // installed as a dependency: webgpu beside it)
      const local = path.join(here, 'node_modules/webgpu/index.js');
      mod = await import(process.env.DP_WEBGPU_MODULE ?? (fs.existsSync(local) ? local : 'webgpu'));
    }
  } catch (e) {
    throw new Error(`the webgpu package is missing (cd web && npm install, or set DAWN_NODE): ${e.message}`);
  }
  Object.assign(globalThis, mod.globals);
  const flags = (process.env.DAWN_FLAGS || '').split(/\s+/).filter(Boolean); // space-separated key=value
  // Keep the GPU object alive for the life of the process: if it is garbage-collected while a
  // device is in use, Dawn's instance goes away under it and the process aborts.
  globalThis.__dopplerGpu = mod.create(flags);
  return globalThis.__dopplerGpu;
}
