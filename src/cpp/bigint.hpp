// Non-negative big integers: just the operations the bound recurrences use.
//
// Python's int would do, but each of its operations costs a round trip
// through the interpreter; the recurrences run millions of multiply-adds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pyregions {

class BigUInt {
public:
    BigUInt() = default;
    explicit BigUInt(std::uint64_t value) {
        if (value != 0) limbs_.push_back(value);
    }

    bool is_zero() const { return limbs_.empty(); }

    BigUInt& operator+=(const BigUInt& other) {
        if (limbs_.size() < other.limbs_.size()) limbs_.resize(other.limbs_.size(), 0);
        unsigned __int128 carry = 0;
        std::size_t i = 0;
        for (; i < other.limbs_.size(); ++i) {
            carry += static_cast<unsigned __int128>(limbs_[i]) + other.limbs_[i];
            limbs_[i] = static_cast<std::uint64_t>(carry);
            carry >>= 64;
        }
        for (; carry != 0 && i < limbs_.size(); ++i) {
            carry += limbs_[i];
            limbs_[i] = static_cast<std::uint64_t>(carry);
            carry >>= 64;
        }
        if (carry != 0) limbs_.push_back(static_cast<std::uint64_t>(carry));
        return *this;
    }

    // *this += a * b without a temporary for the product.
    void add_product(const BigUInt& a, const BigUInt& b) {
        if (a.is_zero() || b.is_zero()) return;
        const std::size_t size = a.limbs_.size() + b.limbs_.size();
        if (limbs_.size() < size) limbs_.resize(size, 0);
        for (std::size_t i = 0; i < a.limbs_.size(); ++i) {
            unsigned __int128 carry = 0;
            const unsigned __int128 ai = a.limbs_[i];
            std::size_t j = 0;
            for (; j < b.limbs_.size(); ++j) {
                carry += ai * b.limbs_[j] + limbs_[i + j];
                limbs_[i + j] = static_cast<std::uint64_t>(carry);
                carry >>= 64;
            }
            for (std::size_t k = i + j; carry != 0; ++k) {
                if (k == limbs_.size()) limbs_.push_back(0);
                carry += limbs_[k];
                limbs_[k] = static_cast<std::uint64_t>(carry);
                carry >>= 64;
            }
        }
        trim();
    }

    // This times numerator / denominator (positive); exact, so the caller
    // knows that denominator divides the product.
    void scale(std::int64_t numerator, std::int64_t denominator) {
        const auto factor = static_cast<std::uint64_t>(numerator);
        unsigned __int128 carry = 0;
        for (auto& limb : limbs_) {
            carry += static_cast<unsigned __int128>(limb) * factor;
            limb = static_cast<std::uint64_t>(carry);
            carry >>= 64;
        }
        if (carry != 0) limbs_.push_back(static_cast<std::uint64_t>(carry));
        const auto divisor = static_cast<std::uint64_t>(denominator);
        unsigned __int128 remainder = 0;
        for (std::size_t i = limbs_.size(); i-- > 0;) {
            remainder = (remainder << 64) | limbs_[i];
            limbs_[i] = static_cast<std::uint64_t>(remainder / divisor);
            remainder %= divisor;
        }
        trim();
    }

    // Hexadecimal, because CPython converts power-of-two bases in linear time
    // and without the 4300-digit limit it puts on decimal strings.
    std::string to_hex() const {
        if (limbs_.empty()) return "0";
        static const char digits[] = "0123456789abcdef";
        std::string text;
        text.reserve(limbs_.size() * 16);
        for (std::size_t i = limbs_.size(); i-- > 0;) {
            for (int shift = 60; shift >= 0; shift -= 4) {
                text.push_back(digits[(limbs_[i] >> shift) & 0xF]);
            }
        }
        const auto first = text.find_first_not_of('0');
        return text.substr(first);
    }

private:
    void trim() {
        while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
    }

    std::vector<std::uint64_t> limbs_;  // little-endian base 2^64
};

}  // namespace pyregions
