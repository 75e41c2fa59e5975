#include "interval.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pyregions {

// A sum of n + 1 products computed in double differs from the exact sum by at
// most gamma_{n+1} times the sum of their magnitudes (Higham, Accuracy and
// Stability of Numerical Algorithms, 2002, section 3.1), gamma_k = k u / (1 - k u).
// Widening by that and one more ulp makes the bounds rigorous.
void interval_bounds(const std::vector<DenseLayer>& layers, const double* lower,
                     const double* upper, std::vector<double*>& lows,
                     std::vector<double*>& highs, std::vector<std::uint8_t*>& never_wins) {
    constexpr double unit_roundoff = std::numeric_limits<double>::epsilon() / 2;
    constexpr double infinity = std::numeric_limits<double>::infinity();
    std::vector<double> in_low(lower, lower + (layers.empty() ? 0 : layers[0].cols));
    std::vector<double> in_high(upper, upper + in_low.size());
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const DenseLayer& layer = layers[l];
        const double k = static_cast<double>(layer.cols + 2);
        const double gamma = k * unit_roundoff / (1.0 - k * unit_roundoff);
        const std::int64_t n_pieces = layer.rows * layer.pieces;
        for (std::int64_t i = 0; i < n_pieces; ++i) {
            const double* row = layer.weights + i * layer.cols;
            double low = layer.bias[i];
            double high = layer.bias[i];
            double magnitude = std::fabs(layer.bias[i]);
            for (std::int64_t j = 0; j < layer.cols; ++j) {
                const double w = row[j];
                const double at_low = w * in_low[j];
                const double at_high = w * in_high[j];
                low += std::min(at_low, at_high);
                high += std::max(at_low, at_high);
                magnitude += std::max(std::fabs(at_low), std::fabs(at_high));
            }
            const double slack = gamma * magnitude;
            lows[l][i] = std::nextafter(low - slack, -infinity);
            highs[l][i] = std::nextafter(high + slack, infinity);
        }
        // The unit's output interval: max(0, a) for ReLU, the max of the
        // pieces' intervals for maxout. max is exact, so no rounding here.
        in_low.assign(layer.rows, 0.0);
        in_high.assign(layer.rows, 0.0);
        for (std::int64_t i = 0; i < layer.rows; ++i) {
            const double* piece_low = lows[l] + i * layer.pieces;
            const double* piece_high = highs[l] + i * layer.pieces;
            if (layer.pieces == 1) {
                in_low[i] = std::max(piece_low[0], 0.0);
                in_high[i] = std::max(piece_high[0], 0.0);
                continue;
            }
            in_low[i] = *std::max_element(piece_low, piece_low + layer.pieces);
            in_high[i] = *std::max_element(piece_high, piece_high + layer.pieces);
            for (std::int64_t p = 0; p < layer.pieces; ++p) {
                // Strict: a piece whose high equals the best low may still tie.
                never_wins[l][i * layer.pieces + p] = piece_high[p] < in_low[i];
            }
        }
    }
}

}  // namespace pyregions
