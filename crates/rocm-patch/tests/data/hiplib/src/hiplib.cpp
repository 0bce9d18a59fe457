#include "hiplib.h"
#include <hip/hip_runtime.h>

__global__ void scale_kernel(float a, const float* x, float* y, size_t n)
{
    size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
    if(i < n)
        y[i] = a * x[i];
}

__global__ void add_kernel(const float* x, const float* y, float* z, size_t n)
{
    size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
    if(i < n)
        z[i] = x[i] + y[i];
}

unsigned hiplib_blocks(size_t n, unsigned block)
{
    return static_cast<unsigned>(n / block);
}

int hiplib_scale(float a, const float* x, float* y, size_t n)
{
    hipLaunchKernelGGL(scale_kernel, dim3(hiplib_blocks(n, 256)), dim3(256), 0, 0, a, x, y, n);
    return static_cast<int>(hipGetLastError());
}

int hiplib_add(const float* x, const float* y, float* z, size_t n)
{
    hipLaunchKernelGGL(add_kernel, dim3(hiplib_blocks(n, 256)), dim3(256), 0, 0, x, y, z, n);
    return static_cast<int>(hipGetLastError());
}
