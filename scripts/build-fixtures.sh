#!/usr/bin/env bash
# Build the binary test fixtures with the real toolchains (Debian hipcc 5.2, clang-19,
# clang-offload-bundler-19, binutils). Output: $1 (default target/fixtures).
# Nothing here is downloaded; scripts/test.sh installs the packages.
set -euo pipefail
export PATH=/usr/lib/llvm-19/bin:$PATH   # lld for the AMDGPU link step of clang-19
out=${1:-target/fixtures}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp="$out/.built-v3"
[ -f "$stamp" ] && exit 0
src="$out/src"; mkdir -p "$src"
cd "$src"

cat > k.hip <<'H'
#include <hip/hip_runtime.h>
__global__ void scale(float* x, float a, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= a; }
extern "C" void launch_scale(float* x, float a, int n) { hipLaunchKernelGGL(scale, dim3((n + 255) / 256), dim3(256), 0, 0, x, a, n); }
H
cat > a.hip <<'H'
#include <hip/hip_runtime.h>
__global__ void add_one(int* x) { x[threadIdx.x] += 1; }
extern "C" void launch_add(int* x) { hipLaunchKernelGGL(add_one, dim3(1), dim3(64), 0, 0, x); }
H
cat > b.hip <<'H'
#include <hip/hip_runtime.h>
__global__ void mul_two(int* x) { x[threadIdx.x] *= 2; }
extern "C" void launch_mul(int* x) { hipLaunchKernelGGL(mul_two, dim3(1), dim3(64), 0, 0, x); }
H
# Plain device code for clang-19 without HIP headers.
cat > c19a.hip <<'H'
struct dim3 { unsigned x, y, z; };
typedef struct ihipStream_t* hipStream_t;
extern "C" int hipLaunchKernel(const void*, dim3, dim3, void**, unsigned long, hipStream_t);
extern "C" __attribute__((global)) void k19a(int* x) { x[0] = 1; }
H
cat > c19b.hip <<'H'
struct dim3 { unsigned x, y, z; };
typedef struct ihipStream_t* hipStream_t;
extern "C" int hipLaunchKernel(const void*, dim3, dim3, void**, unsigned long, hipStream_t);
extern "C" __attribute__((global)) void k19b(int* x) { x[0] = 2; }
H

# hipcc 5.2 (clang 15): uncompressed bundles.
hipcc -fPIC -shared --offload-arch=gfx1010 --offload-arch=gfx1030 --offload-arch=gfx90a:xnack- k.hip -o "$out/libone_tu.so"
hipcc -fPIC -shared --offload-arch=gfx1010 --offload-arch=gfx906:xnack- a.hip b.hip -o "$out/libtwo_tu.so"
hipcc -fPIC -shared -fgpu-rdc --offload-arch=gfx1012 --offload-arch=gfx1030 a.hip b.hip -o "$out/librdc.so"
# A pytorch.org-like set: many targets, none for RDNA1.
hipcc -fPIC -shared --offload-arch=gfx900 --offload-arch=gfx906 --offload-arch=gfx908 --offload-arch=gfx90a --offload-arch=gfx1030 --offload-arch=gfx803 k.hip a.hip -o "$out/libtorch_like_no_gfx1010.so"
# A native RDNA1 set.
hipcc -fPIC -shared --offload-arch=gfx1010 --offload-arch=gfx1011 --offload-arch=gfx1012 k.hip -o "$out/libnative_gfx101x.so"
hipcc -fPIC -c --offload-arch=gfx1010 --offload-arch=gfx803 a.hip -o "$out/a.o"
hipcc -fPIC -c --offload-arch=gfx1030 b.hip -o "$out/b.o"
hipcc --genco --offload-arch=gfx1010 --offload-arch=gfx1031 k.hip -o "$out/genco_bundle.hsaco"
rm -f "$out/libdev.a"; ar rcs "$out/libdev.a" "$out/a.o" "$out/b.o"

# clang-19: compressed bundles (CCOB v2, zstd) embedded in .hip_fatbin.
for f in c19a c19b; do
  clang++-19 -x hip -nogpuinc -nogpulib --offload-arch=gfx1010 --offload-arch=gfx1100 \
    --offload-compress -fPIC -c $f.hip -o $f.o
done
clang++-19 -shared c19a.o c19b.o -o "$out/libccob.so"
# Standalone compressed bundle from the bundler, and code objects to build vectors from.
for arch in gfx1010 gfx1030; do
  clang++-19 -x hip -nogpuinc -nogpulib --offload-arch=$arch --cuda-device-only --no-gpu-bundle-output -c c19a.hip -o co_$arch.o
done
clang-offload-bundler-19 -type=o -bundle-align=4096 \
  -targets=host-x86_64-unknown-linux-gnu,hipv4-amdgcn-amd-amdhsa--gfx1010,hipv4-amdgcn-amd-amdhsa--gfx1030 \
  -input=/dev/null -input=co_gfx1010.o -input=co_gfx1030.o -output="$out/plain_bundle.bin"
clang-offload-bundler-19 -type=o -bundle-align=4096 -compress \
  -targets=host-x86_64-unknown-linux-gnu,hipv4-amdgcn-amd-amdhsa--gfx1010,hipv4-amdgcn-amd-amdhsa--gfx1030 \
  -input=/dev/null -input=co_gfx1010.o -input=co_gfx1030.o -output="$out/bundler_compressed.ccob"

# Nested archives, deeper than the scanner follows (a "loop" stand-in: ar in ar in ar ...).
cp "$out/libdev.a" nest0.a
for i in 1 2 3 4 5 6; do rm -f nest$i.a; ar rcs nest$i.a nest$((i-1)).a; done
cp nest6.a "$out/nested_deep.a"

# A wheel: a package with HIP libraries and a Tensile directory.
rm -rf whl && mkdir -p whl/fakepkg/lib/rocblas/library whl/fakepkg-1.0.dist-info
cp "$out/libtorch_like_no_gfx1010.so" "$out/libccob.so" whl/fakepkg/lib/
cp "$out/genco_bundle.hsaco" whl/fakepkg/lib/rocblas/library/Kernels.so-000-gfx1010.hsaco
: > whl/fakepkg/lib/rocblas/library/TensileLibrary_lazy_gfx1010.dat
: > whl/fakepkg/lib/rocblas/library/TensileLibrary_lazy_gfx1030.dat
printf 'Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n' > whl/fakepkg-1.0.dist-info/METADATA
(cd whl && python3 -c "
import zipfile, os
with zipfile.ZipFile('$out/fakepkg-1.0-py3-none-linux_x86_64.whl', 'w', zipfile.ZIP_DEFLATED) as z:
    for root, _, files in os.walk('.'):
        for f in sorted(files):
            p = os.path.join(root, f); z.write(p, os.path.relpath(p, '.'))
")
touch "$stamp"
echo "fixtures built in $out"
