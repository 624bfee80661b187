# device-env.sh — sourced by device.sh and speed-device.sh on a GPU machine without package
# access: checks that .bundle (shared/tools/webgpu-runtime-bundle.sh) and web/dist (web/build.sh)
# were carried, unpacks the bundle and exports what the Node host needs (DOPPLER_NODE, DAWN_NODE,
# VK_DRIVER_FILES, DAWN_FLAGS: default f16 on NVIDIA + unsafe APIs for subgroup matrices).
# Run from the repository root. Returns 1 when something is missing.
export DAWN_FLAGS=${DAWN_FLAGS:-enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia}
[ -f .bundle/activate.sh ] || { echo "$0: carry .bundle (webgpu-runtime-bundle.sh)"; return 1; }
[ -f web/dist/doppler.wasm ] || { echo "$0: carry web/dist (web/build.sh)"; return 1; }
bash .bundle/activate.sh >/dev/null
# shellcheck disable=SC1091
source .bundle/env.sh
export DOPPLER_NODE DAWN_NODE
[ -n "${VK_DRIVER_FILES:-}" ] || export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
