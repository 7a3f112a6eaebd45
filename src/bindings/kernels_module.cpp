// Python bindings for the kernels. The reference module binds all four (CMakeLists.txt); each
// learner kernel gets a module of its own, built on first use by ml_refresher.kernel_build with
// -DKERNELS_ONLY -DKERNELS_ONLY_<NAME>, so that one kernel's compile error leaves the others usable.
// Every argument is checked here, so that a bad call raises a Python exception naming the
// argument instead of reading out of bounds; the kernel itself then runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels.h"

// torch's extension builder, which builds the learner's modules, names the module itself (it adds
// a version suffix when a process rebuilds a module it has already loaded).
#if defined(TORCH_EXTENSION_NAME) && !defined(KERNELS_MODULE_NAME)
#define KERNELS_MODULE_NAME TORCH_EXTENSION_NAME
#endif

namespace py = pybind11;

namespace {

using float_array = py::array_t<float, py::array::c_style>;

std::string shape_of(const py::array& array) {
  std::string text = "(";
  for (py::ssize_t i = 0; i < array.ndim(); ++i) {
    text += (i ? ", " : "") + std::to_string(array.shape(i));
  }
  return text + (array.ndim() == 1 ? ",)" : ")");
}

// A float32, C-contiguous array of rank `ndim` (or any rank >= 1 when ndim is 0) with no empty
// dimension, or a TypeError/ValueError naming `name`.
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
  if (ndim > 0 ? array.ndim() != ndim : array.ndim() < 1) {
    const std::string wanted = ndim > 0 ? std::to_string(ndim) : "at least 1";
    throw py::value_error(std::string(name) + " must have " + wanted + " dimensions, got shape " +
                          shape_of(array));
  }
  for (py::ssize_t i = 0; i < array.ndim(); ++i) {
    if (array.shape(i) == 0) {
      throw py::value_error(std::string(name) + " must not have an empty dimension, got shape " +
                            shape_of(array));
    }
  }
  if (!(array.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous (use np.ascontiguousarray)");
  }
  // A float32 view at a byte offset: reading it through float* is undefined behaviour (UBSan:
  // "load of misaligned address"), even where x86 tolerates it.
  if (reinterpret_cast<std::uintptr_t>(array.data()) % alignof(float) != 0) {
    throw py::value_error(std::string(name) + " must be aligned to 4 bytes (use np.require(" +
                          name + ", requirements='CA'))");
  }
  return py::reinterpret_borrow<float_array>(array);
}

// Runs the kernel with `threads` OpenMP threads (0: OpenMP's default, i.e. $OMP_NUM_THREADS or
// every core) and without the GIL, then restores the previous thread count.
template <typename Kernel>
void run_kernel(int64_t threads, Kernel kernel) {
  // The cap is the front end's (ml_refresher.kernels.MAX_THREADS): OpenMP asked for 100,000
  // threads fails to start them and takes the process down, so refuse before it starts.
  constexpr int64_t kMaxThreads = 1024;
  if (threads < 0 || threads > kMaxThreads) {
    throw py::value_error("threads must be between 0 (the default) and " +
                          std::to_string(kMaxThreads) + ", got " + std::to_string(threads));
  }
  py::gil_scoped_release release;
#ifdef _OPENMP
  const int previous = omp_get_max_threads();
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  struct restore {
    int count;
    ~restore() { omp_set_num_threads(count); }
  } restore_on_exit{previous};
#endif
  kernel();
}

#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_MATMUL)
float_array matmul(const py::handle& a_obj, const py::handle& b_obj, int64_t threads) {
  const float_array a = checked(a_obj, "a", 2);
  const float_array b = checked(b_obj, "b", 2);
  const py::ssize_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
  if (b.shape(0) != k) {
    throw py::value_error("a and b do not chain: a is " + std::to_string(m) + "x" +
                          std::to_string(k) + ", b is " + std::to_string(b.shape(0)) + "x" +
                          std::to_string(n) + " (a's columns must equal b's rows)");
  }
  float_array c({m, n});
  float* out = c.mutable_data();
  run_kernel(threads, [&] { kernels::matmul(a.data(), b.data(), out, m, k, n); });
  return c;
}
#endif

#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_SOFTMAX_ROWS)
float_array softmax_rows(const py::handle& x_obj, int64_t threads) {
  const float_array x = checked(x_obj, "x", 0);
  const int64_t cols = x.shape(x.ndim() - 1), rows = x.size() / cols;
  float_array y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  float* out = y.mutable_data();
  run_kernel(threads, [&] { kernels::softmax_rows(x.data(), out, rows, cols); });
  return y;
}
#endif

#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_FLASH_ATTENTION)
float_array flash_attention(const py::handle& q_obj, const py::handle& k_obj,
                            const py::handle& v_obj, bool causal, int64_t threads) {
  const float_array q = checked(q_obj, "q", 4);
  const float_array k = checked(k_obj, "k", 4);
  const float_array v = checked(v_obj, "v", 4);
  const bool same_heads = q.shape(0) == k.shape(0) && q.shape(1) == k.shape(1);
  if (!same_heads || q.shape(3) != k.shape(3)) {
    throw py::value_error("k must have q's batch, heads and head size: q is " + shape_of(q) +
                          ", k is " + shape_of(k) + " (both (batch, heads, seq, head_dim))");
  }
  if (!std::equal(k.shape(), k.shape() + 4, v.shape())) {
    throw py::value_error("v must have the shape of k: k is " + shape_of(k) + ", v is " +
                          shape_of(v));
  }
  const int64_t bh = q.shape(0) * q.shape(1), t = q.shape(2), s = k.shape(2), d = q.shape(3);
  float_array out({q.shape(0), q.shape(1), q.shape(2), q.shape(3)});
  float* o = out.mutable_data();
  run_kernel(threads, [&] {
    kernels::flash_attention(q.data(), k.data(), v.data(), o, bh, t, s, d, causal);
  });
  return out;
}
#endif

#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_CONV2D_NCHW)
float_array conv2d_nchw(const py::handle& x_obj, const py::handle& w_obj,
                        const py::object& bias_obj, int64_t stride,
                        int64_t padding, int64_t threads) {
  const float_array x = checked(x_obj, "x", 4);
  const float_array w = checked(w_obj, "weight", 4);
  kernels::conv2d_shape sh{x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0),
                           w.shape(2), w.shape(3), stride, padding, 0, 0};
  if (w.shape(1) != sh.c) {
    throw py::value_error("weight's input channels differ from x's: x is " + shape_of(x) +
                          " (n, c, h, w), weight is " + shape_of(w) + " (o, c, kh, kw)");
  }
  if (stride < 1) throw py::value_error("stride must be >= 1, got " + std::to_string(stride));
  // Padding of a whole kernel side or more only adds outputs that see nothing but zeros.
  if (padding < 0 || padding >= std::min(sh.kh, sh.kw)) {
    throw py::value_error("padding must be in [0, " + std::to_string(std::min(sh.kh, sh.kw)) +
                          ") for a " + std::to_string(sh.kh) + "x" + std::to_string(sh.kw) +
                          " kernel, got " + std::to_string(padding));
  }
  if (sh.h + 2 * padding < sh.kh || sh.w + 2 * padding < sh.kw) {
    throw py::value_error("weight's kernel is larger than x padded by " +
                          std::to_string(padding) + ": weight is " + shape_of(w) +
                          " (o, c, kh, kw), x is " + shape_of(x) + " (n, c, h, w)");
  }
  sh.oh = (sh.h + 2 * padding - sh.kh) / stride + 1;
  sh.ow = (sh.w + 2 * padding - sh.kw) / stride + 1;
  std::optional<float_array> bias;
  if (!bias_obj.is_none()) {
    bias = checked(bias_obj, "bias", 1);
    if (bias->shape(0) != sh.o) {
      throw py::value_error("bias must have one value per output channel: weight is " +
                            shape_of(w) + ", bias is " + shape_of(*bias));
    }
  }
  float_array out({sh.n, sh.o, sh.oh, sh.ow});
  float* o = out.mutable_data();
  const float* b = bias ? bias->data() : nullptr;
  run_kernel(threads, [&] { kernels::conv2d_nchw(x.data(), w.data(), b, o, sh); });
  return out;
}
#endif

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace

PYBIND11_MODULE(KERNELS_MODULE_NAME, m) {
  m.doc() = "float32 CPU kernels (matmul, softmax, attention, conv2d) over C-contiguous arrays";
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const kernels::not_implemented& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });
#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_MATMUL)
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("threads") = 0,
        "c = a @ b for 2-D float32 arrays");
#endif
#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_SOFTMAX_ROWS)
  m.def("softmax_rows", &softmax_rows, py::arg("x"), py::arg("threads") = 0,
        "softmax over the last axis of a float32 array");
#endif
#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_FLASH_ATTENTION)
  m.def("flash_attention", &flash_attention, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("causal") = false, py::arg("threads") = 0,
        "softmax(q k^T / sqrt(d)) v for (batch, heads, seq, head_dim) float32 arrays");
#endif
#if !defined(KERNELS_ONLY) || defined(KERNELS_ONLY_CONV2D_NCHW)
  m.def("conv2d_nchw", &conv2d_nchw, py::arg("x"), py::arg("weight"),
        py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("threads") = 0, "2-D convolution of NCHW float32 images with OIHW weights");
#endif
  m.def("max_threads", &max_threads, "threads a kernel uses when threads=0");
}
