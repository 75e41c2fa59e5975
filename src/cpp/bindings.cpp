// Python bindings of the core.  Arguments are validated by the Python layer;
// what reaches here and is still wrong raises ValueError, never crashes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <stdexcept>

#include "bounds.hpp"
#include "interval.hpp"

namespace py = pybind11;
using namespace pyregions;

namespace {

constexpr double kLn10 = 2.302585092994045684;

py::object to_python(const BigUInt& value) {
    const std::string hex = value.to_hex();
    return py::reinterpret_steal<py::object>(PyLong_FromString(hex.c_str(), nullptr, 16));
}

py::object to_python(const LogValue& value) { return py::float_(value.log / kLn10); }

// Each bound comes exact (a Python int) or as log10 (a float).
template <class Exact, class Log>
py::object exact_or_log10(bool log10, Exact exact, Log log) {
    if (log10) return to_python(log());
    return to_python(exact());
}

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

py::list interval_bounds(const std::vector<Array>& weights, const std::vector<Array>& biases,
                         const Array& lower, const Array& upper) {
    if (weights.size() != biases.size() || weights.empty()) {
        throw std::invalid_argument("one bias per weight matrix, at least one layer");
    }
    std::vector<DenseLayer> layers;
    std::int64_t cols = lower.size();
    if (upper.size() != cols) throw std::invalid_argument("lower and upper differ in size");
    for (std::size_t l = 0; l < weights.size(); ++l) {
        const auto& w = weights[l];
        if (w.ndim() != 2 || w.shape(1) != cols || biases[l].size() != w.shape(0)) {
            throw std::invalid_argument("layer shapes do not chain");
        }
        layers.push_back({w.data(), biases[l].data(), w.shape(0), cols});
        cols = w.shape(0);
    }
    std::vector<Array> low_arrays, high_arrays;
    std::vector<double*> lows, highs;
    for (const auto& layer : layers) {
        low_arrays.emplace_back(layer.rows);
        high_arrays.emplace_back(layer.rows);
        lows.push_back(low_arrays.back().mutable_data());
        highs.push_back(high_arrays.back().mutable_data());
    }
    {
        py::gil_scoped_release release;
        relu_interval_bounds(layers, lower.data(), upper.data(), lows, highs);
    }
    py::list result;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        result.append(py::make_tuple(low_arrays[l], high_arrays[l]));
    }
    return result;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "Compiled core of pyregions: bound summations and interval arithmetic.";

    m.def(
        "serra2018_upper",
        [](std::int64_t n_inputs, const Widths& widths, const Widths& ranks, bool log10) {
            return exact_or_log10(
                log10, [&] { return serra2018_upper<BigUInt>(n_inputs, widths, ranks); },
                [&] { return serra2018_upper<LogValue>(n_inputs, widths, ranks); });
        },
        py::arg("n_inputs"), py::arg("widths"), py::arg("ranks"), py::arg("log10"));
    m.def(
        "arrangement_product",
        [](const Widths& hyperplanes, const Widths& dimensions, bool log10) {
            return exact_or_log10(
                log10, [&] { return arrangement_product<BigUInt>(hyperplanes, dimensions); },
                [&] { return arrangement_product<LogValue>(hyperplanes, dimensions); });
        },
        py::arg("hyperplanes"), py::arg("dimensions"), py::arg("log10"));
    m.def(
        "lower_bound",
        [](const Widths& bases, std::int64_t exponent, std::int64_t last, bool log10) {
            return exact_or_log10(
                log10, [&] { return lower_bound<BigUInt>(bases, exponent, last); },
                [&] { return lower_bound<LogValue>(bases, exponent, last); });
        },
        py::arg("bases"), py::arg("exponent"), py::arg("last"), py::arg("log10"));
    m.def("relu_interval_bounds", &interval_bounds, py::arg("weights"), py::arg("biases"),
          py::arg("lower"), py::arg("upper"));
}
