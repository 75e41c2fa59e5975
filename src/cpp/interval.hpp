// Interval arithmetic through dense ReLU layers: the big-M constants.
#pragma once

#include <cstdint>
#include <vector>

namespace pyregions {

// One dense layer, row-major weights of shape (rows, cols).
struct DenseLayer {
    const double* weights;
    const double* bias;
    std::int64_t rows;
    std::int64_t cols;
};

// Pre-activation bounds of every layer for inputs in [lower, upper], rounded
// outward so that each true value lies inside despite floating point.
// lows[l] and highs[l] must hold layers[l].rows values.
void relu_interval_bounds(const std::vector<DenseLayer>& layers, const double* lower,
                          const double* upper, std::vector<double*>& lows,
                          std::vector<double*>& highs);

}  // namespace pyregions
