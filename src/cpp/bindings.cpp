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

py::object to_python(const BigUInt& value) {
    const std::string hex = value.to_hex();
    return py::reinterpret_steal<py::object>(PyLong_FromString(hex.c_str(), nullptr, 16));
}

py::object to_python(const WideFloat& value) { return py::float_(value.log10()); }

// Each bound comes exact (a Python int) or as log10 (a float).
template <class Exact, class Log>
py::object exact_or_log10(bool log10, Exact exact, Log log) {
    if (log10) return to_python(log());
    return to_python(exact());
}

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

// Per layer (low, high, never_wins): arrays of shape (n,) and None for a
// ReLU layer (2-D weights), of shape (n, k) for a maxout layer (3-D weights).
py::list interval_bounds_py(const std::vector<Array>& weights, const std::vector<Array>& biases,
                            const Array& lower, const Array& upper) {
    if (weights.size() != biases.size() || weights.empty()) {
        throw std::invalid_argument("one bias per weight matrix, at least one layer");
    }
    std::vector<DenseLayer> layers;
    std::int64_t cols = lower.size();
    if (upper.size() != cols) throw std::invalid_argument("lower and upper differ in size");
    for (std::size_t l = 0; l < weights.size(); ++l) {
        const auto& w = weights[l];
        const bool maxout = w.ndim() == 3;
        const std::int64_t pieces = maxout ? w.shape(1) : 1;
        if ((w.ndim() != 2 && !maxout) || w.shape(w.ndim() - 1) != cols ||
            biases[l].size() != w.shape(0) * pieces || (maxout && pieces < 2)) {
            throw std::invalid_argument("layer shapes do not chain");
        }
        layers.push_back({w.data(), biases[l].data(), w.shape(0), cols, pieces});
        cols = w.shape(0);
    }
    std::vector<Array> low_arrays, high_arrays;
    std::vector<py::array_t<std::uint8_t>> win_arrays;
    std::vector<double*> lows, highs;
    std::vector<std::uint8_t*> never_wins;
    for (const auto& layer : layers) {
        std::vector<py::ssize_t> shape{layer.rows};
        if (layer.pieces > 1) shape.push_back(layer.pieces);
        low_arrays.emplace_back(shape);
        high_arrays.emplace_back(shape);
        win_arrays.emplace_back(layer.pieces > 1 ? shape : std::vector<py::ssize_t>{0});
        lows.push_back(low_arrays.back().mutable_data());
        highs.push_back(high_arrays.back().mutable_data());
        never_wins.push_back(win_arrays.back().mutable_data());
    }
    {
        py::gil_scoped_release release;
        interval_bounds(layers, lower.data(), upper.data(), lows, highs, never_wins);
    }
    py::list result;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        py::object wins = py::none();
        if (layers[l].pieces > 1) wins = win_arrays[l].attr("astype")("bool");
        result.append(py::make_tuple(low_arrays[l], high_arrays[l], wins));
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
                [&] { return serra2018_upper<WideFloat>(n_inputs, widths, ranks); });
        },
        py::arg("n_inputs"), py::arg("widths"), py::arg("ranks"), py::arg("log10"));
    m.def(
        "arrangement_product",
        [](const Widths& hyperplanes, const Widths& dimensions, bool log10) {
            return exact_or_log10(
                log10, [&] { return arrangement_product<BigUInt>(hyperplanes, dimensions); },
                [&] { return arrangement_product<WideFloat>(hyperplanes, dimensions); });
        },
        py::arg("hyperplanes"), py::arg("dimensions"), py::arg("log10"));
    m.def(
        "lower_bound",
        [](const Widths& bases, std::int64_t exponent, std::int64_t last, bool log10) {
            return exact_or_log10(
                log10, [&] { return lower_bound<BigUInt>(bases, exponent, last); },
                [&] { return lower_bound<WideFloat>(bases, exponent, last); });
        },
        py::arg("bases"), py::arg("exponent"), py::arg("last"), py::arg("log10"));
    m.def("interval_bounds", &interval_bounds_py, py::arg("weights"), py::arg("biases"),
          py::arg("lower"), py::arg("upper"),
          "Outward-rounded pre-activation bounds per layer: (low, high, never_wins).");
}
