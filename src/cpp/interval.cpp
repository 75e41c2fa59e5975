#include "interval.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pyregions {

// A sum of n + 1 products computed in double differs from the exact sum by at
// most gamma_{n+1} times the sum of their magnitudes (Higham, Accuracy and
// Stability of Numerical Algorithms, 2002, section 3.1), gamma_k = k u / (1 - k u).
// Widening by that and one more ulp makes the bounds rigorous.
void relu_interval_bounds(const std::vector<DenseLayer>& layers, const double* lower,
                          const double* upper, std::vector<double*>& lows,
                          std::vector<double*>& highs) {
    constexpr double unit_roundoff = std::numeric_limits<double>::epsilon() / 2;
    constexpr double infinity = std::numeric_limits<double>::infinity();
    std::vector<double> in_low(lower, lower + (layers.empty() ? 0 : layers[0].cols));
    std::vector<double> in_high(upper, upper + in_low.size());
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const DenseLayer& layer = layers[l];
        const double k = static_cast<double>(layer.cols + 2);
        const double gamma = k * unit_roundoff / (1.0 - k * unit_roundoff);
        for (std::int64_t i = 0; i < layer.rows; ++i) {
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
        in_low.assign(layer.rows, 0.0);
        in_high.resize(layer.rows);
        for (std::int64_t i = 0; i < layer.rows; ++i) {
            in_low[i] = std::max(lows[l][i], 0.0);
            in_high[i] = std::max(highs[l][i], 0.0);
        }
    }
}

}  // namespace pyregions
