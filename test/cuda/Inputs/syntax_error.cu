// syntax_error.cu: deliberately broken kernel for the NVRTC error-path test.
extern "C" __global__ void broken(float *y) {
  y[0] = 1.0f
}
