// Interval arithmetic through dense ReLU and maxout layers: the big-M constants.
#pragma once

#include <cstdint>
#include <vector>

namespace pyregions {

// One dense layer, row-major weights of shape (rows, pieces, cols): each of
// its `rows` units has `pieces` affine pieces. pieces == 1 marks a ReLU
// layer, whose unit outputs max(0, piece); otherwise the unit outputs the
// largest of its pieces (maxout).
struct DenseLayer {
    const double* weights;
    const double* bias;
    std::int64_t rows;
    std::int64_t cols;
    std::int64_t pieces = 1;
};

// Pre-activation bounds of every piece of every layer for inputs in
// [lower, upper], rounded outward so that each true value lies inside despite
// floating point. lows[l] and highs[l] must hold rows * pieces values.
// For a maxout layer, never_wins[l] (rows * pieces values) receives 1 for a
// piece whose upper bound lies below another piece's lower bound: it is
// below the unit's output everywhere in the box. It is ignored for ReLU.
void interval_bounds(const std::vector<DenseLayer>& layers, const double* lower,
                     const double* upper, std::vector<double*>& lows,
                     std::vector<double*>& highs, std::vector<std::uint8_t*>& never_wins);

}  // namespace pyregions
