// Python bindings for the kernels, compiled once per implementation (see CMakeLists.txt).
// Every argument is checked here, so that a bad call raises a Python exception naming the
// argument instead of reading out of bounds; the kernel itself then runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "kernels.h"

namespace py = pybind11;

namespace {

using float_array = py::array_t<float, py::array::c_style>;

// A float32, C-contiguous array of the given rank, or a TypeError/ValueError naming `name`.
float_array checked(const py::handle& obj, const char* name, py::ssize_t ndim) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto array = py::reinterpret_borrow<py::array>(obj);
  if (!array.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string(name) + " must have dtype float32, got " +
                         std::string(py::str(array.dtype())));
  }
  if (array.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) +
                          " dimensions, got " + std::to_string(array.ndim()));
  }
  if (!(array.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous (use np.ascontiguousarray)");
  }
  return py::reinterpret_borrow<float_array>(array);
}

float_array matmul(const py::handle& a_obj, const py::handle& b_obj) {
  const float_array a = checked(a_obj, "a", 2);
  const float_array b = checked(b_obj, "b", 2);
  const py::ssize_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
  if (b.shape(0) != k) {
    throw py::value_error("inner dimensions differ: a is " + std::to_string(m) + "x" +
                          std::to_string(k) + ", b is " + std::to_string(b.shape(0)) + "x" +
                          std::to_string(n));
  }
  float_array c({m, n});
  {
    py::gil_scoped_release release;
    kernels::matmul(a.data(), b.data(), c.mutable_data(), m, k, n);
  }
  return c;
}

}  // namespace

PYBIND11_MODULE(KERNELS_MODULE_NAME, m) {
  m.doc() = "float32 CPU kernels (matmul, ...) over C-contiguous NumPy arrays";
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const kernels::not_implemented& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), "c = a @ b for 2-D float32 arrays");
}
