// Python bindings for the CUDA kernels. The reference module binds them all (CMakeLists.txt,
// when a CUDA compiler is found); each learner kernel gets a module of its own, built on first
// use by ml_refresher.cuda_build with -DCUDA_KERNELS_ONLY -DCUDA_KERNELS_ONLY_<NAME>.
//
// The module does not link torch: it takes device pointers (tensor.data_ptr()) and shapes as
// integers from the front end, src/ml_refresher/cuda_kernels.py, which checks the tensors. The
// checks here are the ones a direct call needs to fail cleanly instead of crashing: a CUDA
// device exists, every pointer is device memory, every size is >= 1. Kernels run asynchronously
// on the given stream; a bad launch (e.g. a grid too large) is a RuntimeError.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda_kernels.h"

#ifndef KERNELS_MODULE_NAME
#define KERNELS_MODULE_NAME _cuda_kernels_reference
#endif

namespace py = pybind11;

namespace {

const char* const NO_DEVICE =
    "no CUDA device: these kernels need an NVIDIA GPU (and its driver); on this machine run "
    "the Triton katas through the interpreter";

// A RuntimeError unless the process sees at least one CUDA device.
void require_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    cudaGetLastError();  // leave no error behind for the next CUDA call
    std::string message = NO_DEVICE;
    if (status != cudaSuccess) message += std::string(" (CUDA: ") + cudaGetErrorString(status) + ")";
    throw std::runtime_error(message);
  }
}

// `address` as a device pointer, or a ValueError naming the argument: null, host memory and
// addresses CUDA does not know are refused (the kernel would fault on them).
template <typename T>
T* device_pointer(std::uintptr_t address, const char* name) {
  if (address == 0) throw py::value_error(std::string(name) + " is a null pointer");
  cudaPointerAttributes attributes{};
  const cudaError_t status = cudaPointerGetAttributes(&attributes, reinterpret_cast<void*>(address));
  if (status != cudaSuccess || (attributes.type != cudaMemoryTypeDevice &&
                                attributes.type != cudaMemoryTypeManaged)) {
    cudaGetLastError();
    throw py::value_error(std::string(name) +
                          " must be a CUDA device pointer (tensor.data_ptr() of a CUDA tensor), "
                          "got an address in host or unknown memory");
  }
  return reinterpret_cast<T*>(address);
}

void require_size(int64_t value, const char* name) {
  if (value < 1) throw py::value_error(std::string(name) + " must be >= 1, got " + std::to_string(value));
}

// Launch errors (bad configuration, no kernel image for this GPU) surface here; errors inside
// a running kernel surface at the next synchronising call, e.g. torch's .cpu().
void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    std::string message = std::string(kernel) + ": the CUDA launch failed: " + cudaGetErrorString(status);
    if (status == cudaErrorNoKernelImageForDevice || status == cudaErrorUnsupportedPtxVersion) {
      message += " (rebuild for this GPU: CUDAARCHS=native; see katas/07_gpu_kernels/README.md)";
    }
    throw std::runtime_error(message);
  }
}

cudaStream_t as_stream(std::uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_MATMUL)
void matmul(std::uintptr_t a, std::uintptr_t b, std::uintptr_t c, int64_t m, int64_t k, int64_t n,
            std::uintptr_t stream) {
  require_device();
  require_size(m, "m"), require_size(k, "k"), require_size(n, "n");
  const float* a_ptr = device_pointer<const float>(a, "a");
  const float* b_ptr = device_pointer<const float>(b, "b");
  float* c_ptr = device_pointer<float>(c, "c");
  cuda_kernels::matmul(a_ptr, b_ptr, c_ptr, m, k, n, as_stream(stream));
  check_launch("matmul");
}
#endif

#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_SOFTMAX_ROWS)
void softmax_rows(std::uintptr_t x, std::uintptr_t y, int64_t rows, int64_t cols,
                  std::uintptr_t stream) {
  require_device();
  require_size(rows, "rows"), require_size(cols, "cols");
  const float* x_ptr = device_pointer<const float>(x, "x");
  float* y_ptr = device_pointer<float>(y, "y");
  cuda_kernels::softmax_rows(x_ptr, y_ptr, rows, cols, as_stream(stream));
  check_launch("softmax_rows");
}
#endif

#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_FLASH_ATTENTION)
void flash_attention(std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t out,
                     int64_t bh, int64_t t, int64_t s, int64_t d, bool causal,
                     std::uintptr_t stream) {
  require_device();
  require_size(bh, "bh"), require_size(t, "t"), require_size(s, "s"), require_size(d, "d");
  if (d > FLASH_D_MAX) {
    throw py::value_error("d (the head dimension) must be <= " + std::to_string(FLASH_D_MAX) +
                          ", got " + std::to_string(d));
  }
  const float* q_ptr = device_pointer<const float>(q, "q");
  const float* k_ptr = device_pointer<const float>(k, "k");
  const float* v_ptr = device_pointer<const float>(v, "v");
  float* out_ptr = device_pointer<float>(out, "out");
  cuda_kernels::flash_attention(q_ptr, k_ptr, v_ptr, out_ptr, bh, t, s, d, causal,
                                as_stream(stream));
  check_launch("flash_attention");
}
#endif

#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_CONV2D_NCHW)
// x (n, c, h, w), weight (o, c, kh, kw), bias (o,) or 0 for none, out (n, o, oh, ow); the output
// size follows from the others, as in the CPU kernel's bindings (kernels_module.cpp).
void conv2d_nchw(std::uintptr_t x, std::uintptr_t weight, std::uintptr_t bias, std::uintptr_t out,
                 int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw,
                 int64_t stride, int64_t padding, std::uintptr_t stream) {
  require_device();
  require_size(n, "n"), require_size(c, "c"), require_size(h, "h"), require_size(w, "w");
  require_size(o, "o"), require_size(kh, "kh"), require_size(kw, "kw");
  require_size(stride, "stride");
  // Padding of a whole kernel side or more only adds outputs that see nothing but zeros.
  if (padding < 0 || padding >= std::min(kh, kw)) {
    throw py::value_error("padding must be in [0, " + std::to_string(std::min(kh, kw)) +
                          ") for a " + std::to_string(kh) + "x" + std::to_string(kw) +
                          " kernel, got " + std::to_string(padding));
  }
  if (h + 2 * padding < kh || w + 2 * padding < kw) {
    throw py::value_error("the kernel is larger than the image padded by " +
                          std::to_string(padding));
  }
  const int64_t oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1;
  const kernels::conv2d_shape shape{n, c, h, w, o, kh, kw, stride, padding, oh, ow};
  const float* x_ptr = device_pointer<const float>(x, "x");
  const float* w_ptr = device_pointer<const float>(weight, "weight");
  const float* b_ptr = bias == 0 ? nullptr : device_pointer<const float>(bias, "bias");
  float* out_ptr = device_pointer<float>(out, "out");
  cuda_kernels::conv2d_nchw(x_ptr, w_ptr, b_ptr, out_ptr, shape, as_stream(stream));
  check_launch("conv2d_nchw");
}
#endif

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

}  // namespace

PYBIND11_MODULE(KERNELS_MODULE_NAME, m) {
  m.doc() =
      "float32 CUDA kernels (matmul, softmax, attention, conv2d) on device pointers; call them "
      "through ml_refresher.cuda_kernels, which takes torch CUDA tensors";
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const kernels::not_implemented& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });
#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_MATMUL)
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("m"), py::arg("k"),
        py::arg("n"), py::arg("stream") = 0,
        "c (m, n) = a (m, k) @ b (k, n); device pointers to contiguous float32, on `stream`");
#endif
#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_SOFTMAX_ROWS)
  m.def("softmax_rows", &softmax_rows, py::arg("x"), py::arg("y"), py::arg("rows"),
        py::arg("cols"), py::arg("stream") = 0,
        "y = softmax over each row of x (rows, cols); device pointers, contiguous float32");
#endif
#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_FLASH_ATTENTION)
  m.def("flash_attention", &flash_attention, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("bh"), py::arg("t"), py::arg("s"), py::arg("d"),
        py::arg("causal") = false, py::arg("stream") = 0,
        "out (bh, t, d) = softmax(q k^T / sqrt(d)) v, q (bh, t, d), k and v (bh, s, d)");
#endif
#if !defined(CUDA_KERNELS_ONLY) || defined(CUDA_KERNELS_ONLY_CONV2D_NCHW)
  m.def("conv2d_nchw", &conv2d_nchw, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("out"), py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("o"),
        py::arg("kh"), py::arg("kw"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("stream") = 0,
        "out (n, o, oh, ow) = conv2d(x (n, c, h, w), weight (o, c, kh, kw)) + bias (o,) (0: none)");
#endif
  m.def("device_count", &device_count, "CUDA devices this process sees (0 without a GPU)");
}
