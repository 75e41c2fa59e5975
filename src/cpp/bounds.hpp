// Upper and lower bounds on the number of linear regions (Serra et al. 2018).
//
// Every function is a template over the number type: BigUInt for exact
// values, WideFloat (a double with a wide exponent) where the exact value
// is too long.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "bigint.hpp"

namespace pyregions {

// A non-negative number m * 2^(64 e), with m = 0 or 1 <= m < 2^64: the
// range of a logarithm at the cost of a multiply. Sums and products only
// compare and multiply by 2^-64 (exact); a logarithm would take a log1p and
// an exp per sum. Relative rounding is that of a double per operation.
struct WideFloat {
    static constexpr double kBlock = 18446744073709551616.0;  // 2^64
    static constexpr double kInverseBlock = 1.0 / kBlock;
    static constexpr double kLog10Block = 19.265919722494796;  // log10(2^64)

    double mantissa = 0.0;
    std::int64_t exponent = 0;

    WideFloat() = default;
    explicit WideFloat(std::uint64_t value) : mantissa(static_cast<double>(value)) {
        normalize();
    }

    bool is_zero() const { return mantissa == 0.0; }

    double log10() const { return std::log10(mantissa) + kLog10Block * static_cast<double>(exponent); }

    // Back into [1, 2^64) from anywhere.
    void normalize() {
        if (mantissa == 0.0) return;
        while (mantissa >= kBlock) {
            mantissa *= kInverseBlock;
            ++exponent;
        }
        while (mantissa < 1.0) {
            mantissa *= kBlock;
            --exponent;
        }
    }

    WideFloat& operator+=(const WideFloat& other) {
        if (other.is_zero()) return *this;
        if (is_zero()) return *this = other;
        // Two blocks apart, the smaller is below 2^-64 of the larger: lost
        // to rounding anyway. A sum of two mantissas needs one step back.
        const std::int64_t gap = exponent - other.exponent;
        if (gap == 0) {
            mantissa += other.mantissa;
        } else if (gap == 1) {
            mantissa += other.mantissa * kInverseBlock;
        } else if (gap == -1) {
            mantissa = other.mantissa + mantissa * kInverseBlock;
            exponent = other.exponent;
        } else if (gap < -1) {
            *this = other;
        }
        if (mantissa >= kBlock) {
            mantissa *= kInverseBlock;
            ++exponent;
        }
        return *this;
    }

    void add_product(const WideFloat& a, const WideFloat& b) {
        if (a.is_zero() || b.is_zero()) return;
        WideFloat product;
        product.mantissa = a.mantissa * b.mantissa;
        product.exponent = a.exponent + b.exponent;
        if (product.mantissa >= kBlock) {
            product.mantissa *= kInverseBlock;
            ++product.exponent;
        }
        *this += product;
    }

    // This times numerator / denominator (positive integers).
    void scale(std::int64_t numerator, std::int64_t denominator) {
        mantissa = mantissa * static_cast<double>(numerator) / static_cast<double>(denominator);
        normalize();
    }
};

using Widths = std::vector<std::int64_t>;

// Theorem 1, or with ranks the refinement of Theorem 7: the sum over
// J = {0 <= j_l <= min(n0, r_1, n1 - j1, r_2, ..., n_{l-1} - j_{l-1}, r_l)}
// of prod_l C(n_l, j_l), where r_l = rank(W^l) (n_l without weights).
template <class Number>
Number serra2018_upper(std::int64_t n_inputs, const Widths& widths, const Widths& ranks);

// prod_l sum_{j <= min(d_l, m_l)} C(m_l, j): Zaslavsky's count for one
// arrangement of m hyperplanes in dimension d, or a product of them
// (Montufar 2017; maxout with m_l = k(k-1)/2 * n_l).
template <class Number>
Number arrangement_product(const Widths& hyperplanes, const Widths& dimensions);

// prod_l base_l^exponent * sum_{j <= exponent} C(last, j): the shape of
// both lower bounds (Montufar et al. 2014; Serra et al. 2018).
template <class Number>
Number lower_bound(const Widths& bases, std::int64_t exponent, std::int64_t last);

}  // namespace pyregions
