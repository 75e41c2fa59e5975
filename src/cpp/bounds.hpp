// Upper and lower bounds on the number of linear regions (Serra et al. 2018).
//
// Every function is a template over the number type: BigUInt for exact
// values, LogValue (a natural logarithm) where the exact value is too long.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "bigint.hpp"

namespace pyregions {

// A positive number held as its natural logarithm; zero is -infinity.
struct LogValue {
    double log = -std::numeric_limits<double>::infinity();

    LogValue() = default;
    explicit LogValue(std::uint64_t value) : log(std::log(static_cast<double>(value))) {}

    bool is_zero() const { return std::isinf(log); }

    LogValue& operator+=(const LogValue& other) {
        if (other.is_zero()) return *this;
        if (is_zero()) return *this = other;
        const double high = std::max(log, other.log);
        log = high + std::log1p(std::exp(-std::fabs(log - other.log)));
        return *this;
    }

    void add_product(const LogValue& a, const LogValue& b) {
        if (a.is_zero() || b.is_zero()) return;
        LogValue product;
        product.log = a.log + b.log;
        *this += product;
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
