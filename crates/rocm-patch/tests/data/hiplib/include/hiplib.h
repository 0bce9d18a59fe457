// hiplib: two kernels (scale, add) and the launch-size helper they use.
#pragma once
#include <cstddef>

// Blocks of `block` threads needed to cover `n` elements.
unsigned hiplib_blocks(size_t n, unsigned block);
// y[i] = a * x[i] on the current device; returns the HIP error code.
int hiplib_scale(float a, const float* x, float* y, size_t n);
// z[i] = x[i] + y[i] on the current device; returns the HIP error code.
int hiplib_add(const float* x, const float* y, float* z, size_t n);
