#include "bounds.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace pyregions {
namespace {

void require_positive(std::int64_t value, const char* what) {
    if (value < 1) throw std::invalid_argument(std::string(what) + " must be at least 1");
}

// C(n, 0..top) by C(n, j + 1) = C(n, j) (n - j) / (j + 1).
template <class Number>
std::vector<Number> binomial_row(std::int64_t n, std::int64_t top) {
    std::vector<Number> row;
    row.reserve(top + 1);
    Number value(1);
    for (std::int64_t j = 0; j <= top; ++j) {
        row.push_back(value);
        value.scale(n - j, j + 1);
    }
    return row;
}

template <class Number>
Number partial_binomial_sum(std::int64_t n, std::int64_t top) {
    Number total;
    for (const auto& term : binomial_row<Number>(n, std::min(n, top))) total += term;
    return total;
}

}  // namespace

// A dynamic program over the dimension budget d: count[d] sums the products
// of the j's chosen so far whose budget for the next layer is d.  Choosing
// j_l units in a layer of n leaves min(d, n - j).  For j <= n - d the budget
// stays d, so those choices fold into one prefix sum of binomials; for larger
// j it drops to e = n - j, which collects count[d] over d >= max(e + 1, n - e),
// a suffix sum.  Each layer costs O(n0 + n) instead of O(n0 * n).
template <class Number>
Number serra2018_upper(std::int64_t n_inputs, const Widths& widths, const Widths& ranks) {
    require_positive(n_inputs, "the input dimension");
    if (widths.empty()) throw std::invalid_argument("at least one hidden layer is needed");
    if (!ranks.empty() && ranks.size() != widths.size()) {
        throw std::invalid_argument("ranks must have one entry per hidden layer");
    }
    std::int64_t top = n_inputs;  // the largest budget still possible
    std::vector<Number> count(top + 1);
    count[top] = Number(1);
    for (std::size_t l = 0; l < widths.size(); ++l) {
        const std::int64_t n = widths[l];
        require_positive(n, "every width");
        const std::int64_t rank = ranks.empty() ? n : ranks[l];
        if (rank < 0 || rank > n) throw std::invalid_argument("a rank must lie in [0, width]");
        if (rank < top) {
            for (std::int64_t d = rank + 1; d <= top; ++d) count[rank] += count[d];
            top = rank;
            count.resize(top + 1);
        }
        const auto binomials = binomial_row<Number>(n, std::min(n, top));
        std::vector<Number> prefix(binomials.size());
        Number running;
        for (std::size_t j = 0; j < binomials.size(); ++j) {
            running += binomials[j];
            prefix[j] = running;
        }
        std::vector<Number> suffix(top + 2);
        for (std::int64_t d = top; d >= 0; --d) {
            suffix[d] = suffix[d + 1];
            suffix[d] += count[d];
        }
        const std::int64_t next_top = std::min(top, n);
        std::vector<Number> next(next_top + 1);
        for (std::int64_t d = 0; d <= next_top; ++d) {
            next[d].add_product(prefix[std::min(d, n - d)], count[d]);
        }
        for (std::int64_t e = 0; e <= std::min(n, top - 1); ++e) {
            const std::int64_t from = std::max(e + 1, n - e);
            if (from <= top) next[e].add_product(binomials[e], suffix[from]);
        }
        count = std::move(next);
        top = next_top;
    }
    Number total;
    for (const auto& value : count) total += value;
    return total;
}

template <class Number>
Number arrangement_product(const Widths& hyperplanes, const Widths& dimensions) {
    if (hyperplanes.size() != dimensions.size()) {
        throw std::invalid_argument("one dimension per arrangement is needed");
    }
    Number total(1);
    for (std::size_t l = 0; l < hyperplanes.size(); ++l) {
        if (hyperplanes[l] < 0 || dimensions[l] < 0) {
            throw std::invalid_argument("arrangement sizes and dimensions must be non-negative");
        }
        Number product;
        product.add_product(total, partial_binomial_sum<Number>(hyperplanes[l], dimensions[l]));
        total = product;
    }
    return total;
}

template <class Number>
Number lower_bound(const Widths& bases, std::int64_t exponent, std::int64_t last) {
    require_positive(exponent, "the input dimension");
    require_positive(last, "the last width");
    Number total = partial_binomial_sum<Number>(last, exponent);
    for (const auto base : bases) {
        if (base < 0) throw std::invalid_argument("bases must be non-negative");
        const Number factor(static_cast<std::uint64_t>(base));
        for (std::int64_t i = 0; i < exponent; ++i) {
            Number product;
            product.add_product(total, factor);
            total = product;
        }
    }
    return total;
}

template BigUInt serra2018_upper<BigUInt>(std::int64_t, const Widths&, const Widths&);
template WideFloat serra2018_upper<WideFloat>(std::int64_t, const Widths&, const Widths&);
template BigUInt arrangement_product<BigUInt>(const Widths&, const Widths&);
template WideFloat arrangement_product<WideFloat>(const Widths&, const Widths&);
template BigUInt lower_bound<BigUInt>(const Widths&, std::int64_t, std::int64_t);
template WideFloat lower_bound<WideFloat>(const Widths&, std::int64_t, std::int64_t);

}  // namespace pyregions
