// Fused GRU layer for XLA:CPU (jax.ffi custom calls), laid out networks-innermost.
//
// One call handles a whole block of networks: every input carries leading network axes
// (flattened here to n_models). Networks are processed in tiles of kLanes; inside a tile
// every value is a vector of kLanes floats, one lane per network, so the SIMD lanes run over
// networks and no instruction ever mixes two networks. A tile's weights, its hidden state
// and its gates stay in registers / L1 for all time steps of one sequence.
//
// Determinism: a network's result does not depend on how many networks share the call or
// on its position in it. Lanes past the last network of the tail tile are padded with zero
// weights, so every network runs the same vector code; there is no reduction across lanes.
// Built with -ffp-contract=off the compiler fuses no multiply-add on its own, so the rounding
// is the same for every vector width it picks (SSE, AVX2, AVX-512). Every multiply-add of the
// recurrence, its backward and the tanh polynomial goes through madd(a, b, c) = a * b + c:
// two roundings in the default build (kernel "fused"), one in the MLDS_GRU_FMA=1 build
// (kernel "fused_fma": an explicit fused multiply-add in every lane, padded lanes included,
// so its floats too are the same on AVX2 and AVX-512 and whatever the call's width).
//
// Gate equations (PyTorch, gates ordered r, z, n):
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
//   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
//   h' = (1 - z) * n + z * h
// Forward residuals per step: r, z, n, gh_n = W_hn h + b_hn and h, 5*hidden values, in the
// kernel's own layout (see put_res): JAX only hands them from a forward call to the backward
// call of the same networks, declared as [..., time, batch, 5*hidden]. Built with
// MLDS_GRU_RECOMPUTE=1 (no shipped build: slower on a quiet machine) only h is kept
// ([..., time, batch, hidden]):
// the backward recomputes r, z, n and gh_n from h_{t-1} and x_t through the forward's own
// step_gates and matvec calls, the same instructions in the same order, so the recomputed
// values are the saved ones bit for bit (tests/models/test_fused_gru.py checks the
// gradients against a build that saves them).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "xla/ffi/api/ffi.h"

#if defined(__AVX__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace ffi = xla::ffi;

namespace {

// A tile is 8 networks, one per lane of an 8-float vector (one AVX2 / AVX-512VL register).
// Measured on AVX-512 (one core, standalone harness): 8-lane tiles ran forward + backward at
// 45 GFLOP/s per network against 37 for 16-lane tiles (the backward's working set halves and
// fits L1), and on AVX2 a 16-float vector would take two registers. The code is generic in
// the vector type V; per-lane arithmetic does not depend on it.
constexpr int kLanes = 8;
typedef float vf8 __attribute__((vector_size(kLanes * sizeof(float))));
template <typename V>
constexpr int64_t lanes_of = sizeof(V) / sizeof(float);

template <typename V>
inline V splat(float a) {
  return V{} + a;
}

#ifndef MLDS_GRU_FMA
#define MLDS_GRU_FMA 0
#endif
#ifndef MLDS_GRU_RECOMPUTE
#define MLDS_GRU_RECOMPUTE 0
#endif
// Residual vectors saved per hidden unit and step: r, z, n, gh_n, h; or h alone.
constexpr int64_t kRes = MLDS_GRU_RECOMPUTE ? 1 : 5;

// a * b + c, lane by lane: rounded twice (MLDS_GRU_FMA=0) or once (a fused multiply-add).
template <typename V>
inline V madd(V a, V b, V c) {
#if MLDS_GRU_FMA
  V r;
  for (int64_t l = 0; l < lanes_of<V>; ++l) r[l] = __builtin_fmaf(a[l], b[l], c[l]);
  return r;
#else
  return a * b + c;
#endif
}
#if MLDS_GRU_FMA && defined(__FMA__)
// One vfmadd instruction (the generic loop above computes the same bits, lane by lane).
template <>
inline vf8 madd<vf8>(vf8 a, vf8 b, vf8 c) {
  return reinterpret_cast<vf8>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a),
                                               reinterpret_cast<__m256>(b),
                                               reinterpret_cast<__m256>(c)));
}
#endif
template <typename V>
inline V madd(V a, V b, float c) { return madd(a, b, splat<V>(c)); }

// Eigen's rational tanh approximation (the one XLA:CPU uses for f32 tanh): a few ulp.
template <typename V>
inline V vtanh(V a) {
  const V hi = splat<V>(7.99881172180175781f), lo = splat<V>(-7.99881172180175781f);
  V x = a > hi ? hi : a;
  x = x < lo ? lo : x;
  const V x2 = x * x;
  V p = madd(x2, splat<V>(-2.76076847742355e-16f), 2.00018790482477e-13f);
  p = madd(x2, p, -8.60467152213735e-11f);
  p = madd(x2, p, 5.12229709037114e-08f);
  p = madd(x2, p, 1.48572235717979e-05f);
  p = madd(x2, p, 6.37261928875436e-04f);
  p = madd(x2, p, 4.89352455891786e-03f);
  p = x * p;
  V q = madd(x2, splat<V>(1.19825839466702e-06f), 1.18534705686654e-04f);
  q = madd(x2, q, 2.26843463243900e-03f);
  q = madd(x2, q, 4.89352518554385e-03f);
  return p / q;
}

template <typename V>
inline V vsigmoid(V x) { return madd(splat<V>(0.5f), vtanh(0.5f * x), 0.5f); }

// Gates r, z, n of hidden unit j from one step's input projection git = W_i x_t + b_i and
// hidden projection gh = W_h h_{t-1} + b_h ([3*hidden] each, gates r, z, n). The forward and
// the recomputing backward both call it.
template <typename V>
inline void step_gates(const V* git, const V* gh, int64_t H, int64_t j, V* r, V* z, V* n) {
  *r = vsigmoid(git[j] + gh[j]);
  *z = vsigmoid(git[H + j] + gh[H + j]);
  *n = vtanh(madd(*r, gh[2 * H + j], git[2 * H + j]));
}

// Largest hidden / input size of the generic (not compiled-in) path; larger layers use the
// XLA path (checked in Python and at the call).
constexpr int kMaxDim = 64;

struct Dims {
  int64_t n, t, b, i, h;  // networks, time, batch, input features, hidden
};

// Element l of vector k, for plain scalar loads and stores (no vector read-modify-write).
template <typename V>
inline float* lanes(V* v) { return reinterpret_cast<float*>(v); }
template <typename V>
inline const float* lanes(const V* v) { return reinterpret_cast<const float*>(v); }

// Copies rows [n0, n0 + cnt) of a [n, size] array into a lane-innermost [size] vector buffer,
// padding lanes >= cnt with zeros.
template <typename V>
void gather(const float* src, int64_t n0, int64_t cnt, int64_t size, V* dst) {
  for (int64_t k = 0; k < size; ++k) dst[k] = V{};
  float* f = lanes(dst);
  for (int64_t l = 0; l < cnt; ++l) {
    const float* s = src + (n0 + l) * size;
    for (int64_t k = 0; k < size; ++k) f[k * lanes_of<V> + l] = s[k];
  }
}

// Inverse of gather (lanes >= cnt dropped).
template <typename V>
void scatter(const V* src, int64_t n0, int64_t cnt, int64_t size, float* dst) {
  const float* f = lanes(src);
  for (int64_t l = 0; l < cnt; ++l) {
    float* d = dst + (n0 + l) * size;
    for (int64_t k = 0; k < size; ++k) d[k] = f[k * lanes_of<V> + l];
  }
}

#if defined(__AVX__)
// In-register transpose of an 8x8 block of floats (r[i] lane j <-> r[j] lane i).
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}
#endif

// Copies columns [0, f) of eight rows (row l at rows[l], a full tile) into f lane vectors,
// or back (kToRows): eight columns at a time through an in-register transpose where AVX
// exists, the rest one float at a time. Data movement only: no float changes.
template <bool kToRows>
inline void transpose_rows(float* const rows[8], int64_t f, float* vecs) {
  int64_t k = 0;
#if defined(__AVX__)
  for (; k + 8 <= f; k += 8) {
    __m256 r[8];
    for (int l = 0; l < 8; ++l)
      r[l] = kToRows ? _mm256_loadu_ps(vecs + (k + l) * 8) : _mm256_loadu_ps(rows[l] + k);
    transpose8(r);
    for (int l = 0; l < 8; ++l) {
      if (kToRows) _mm256_storeu_ps(rows[l] + k, r[l]);
      else _mm256_storeu_ps(vecs + (k + l) * 8, r[l]);
    }
  }
#endif
  for (; k < f; ++k)
    for (int l = 0; l < 8; ++l) {
      if (kToRows) rows[l][k] = vecs[k * 8 + l];
      else vecs[k * 8 + l] = rows[l][k];
    }
}

// Sequence b of a [n, time, batch, f] array, rows [n0, n0 + cnt), into [time, f] vectors.
template <typename V>
void gather_seq(const float* src, const Dims& d, int64_t f, int64_t n0, int64_t cnt, int64_t b,
                V* dst) {
  const int64_t per_net = d.t * d.b * f;
  float* o = lanes(dst);
  if (lanes_of<V> == 8 && cnt == 8) {
    for (int64_t t = 0; t < d.t; ++t) {
      float* rows[8];
      for (int l = 0; l < 8; ++l) {
        rows[l] = const_cast<float*>(src) + (n0 + l) * per_net + (t * d.b + b) * f;
        if (b + 4 < d.b) __builtin_prefetch(rows[l] + 4 * f);
      }
      transpose_rows<false>(rows, f, o + t * f * 8);
    }
    return;
  }
  if (cnt < lanes_of<V>)
    for (int64_t k = 0; k < d.t * f; ++k) dst[k] = V{};
  for (int64_t l = 0; l < cnt; ++l) {
    const float* s = src + (n0 + l) * per_net + b * f;
    for (int64_t t = 0; t < d.t; ++t) {
      // the sequences a few calls ahead: 8 * time short strided reads per call are too many
      // streams for the hardware prefetcher
      if (b + 4 < d.b) __builtin_prefetch(s + t * d.b * f + 4 * f);
      for (int64_t k = 0; k < f; ++k) o[(t * f + k) * lanes_of<V> + l] = s[t * d.b * f + k];
    }
  }
}

template <typename V>
void scatter_seq(const V* src, const Dims& d, int64_t f, int64_t n0, int64_t cnt, int64_t b,
                 float* dst) {
  const int64_t per_net = d.t * d.b * f;
  const float* o = lanes(src);
  if (lanes_of<V> == 8 && cnt == 8) {
    for (int64_t t = 0; t < d.t; ++t) {
      float* rows[8];
      for (int l = 0; l < 8; ++l) rows[l] = dst + (n0 + l) * per_net + (t * d.b + b) * f;
      transpose_rows<true>(rows, f, const_cast<float*>(o) + t * f * 8);
    }
    return;
  }
  for (int64_t l = 0; l < cnt; ++l) {
    float* s = dst + (n0 + l) * per_net + b * f;
    for (int64_t t = 0; t < d.t; ++t)
      for (int64_t k = 0; k < f; ++k) s[t * d.b * f + k] = o[(t * f + k) * lanes_of<V> + l];
  }
}

// out[g] = bias[g] + sum_k w[g, k] * v[k] for g < rows (w row-major [rows, cols]).
// Four rows at a time so each v[k] load feeds four products.
template <typename V, int kCols>
inline void matvec(const V* w, const V* bias, const V* v, int64_t rows, int64_t cols_rt,
                   V* out) {
  const int64_t cols = kCols ? kCols : cols_rt;
  int64_t g = 0;
  // Eight rows at a time: eight independent multiply-add chains hide the latency of each
  // (every row's sum keeps its order: bias, then k ascending, whatever the grouping).
  for (; g + 8 <= rows; g += 8) {
    V a0 = bias[g], a1 = bias[g + 1], a2 = bias[g + 2], a3 = bias[g + 3];
    V a4 = bias[g + 4], a5 = bias[g + 5], a6 = bias[g + 6], a7 = bias[g + 7];
    const V* w0 = w + g * cols;
    for (int64_t k = 0; k < cols; ++k) {
      const V x = v[k];
      a0 = madd(w0[k], x, a0);
      a1 = madd(w0[cols + k], x, a1);
      a2 = madd(w0[2 * cols + k], x, a2);
      a3 = madd(w0[3 * cols + k], x, a3);
      a4 = madd(w0[4 * cols + k], x, a4);
      a5 = madd(w0[5 * cols + k], x, a5);
      a6 = madd(w0[6 * cols + k], x, a6);
      a7 = madd(w0[7 * cols + k], x, a7);
    }
    out[g] = a0, out[g + 1] = a1, out[g + 2] = a2, out[g + 3] = a3;
    out[g + 4] = a4, out[g + 5] = a5, out[g + 6] = a6, out[g + 7] = a7;
  }
  for (; g + 4 <= rows; g += 4) {
    V a0 = bias[g], a1 = bias[g + 1], a2 = bias[g + 2], a3 = bias[g + 3];
    const V* w0 = w + g * cols;
    for (int64_t k = 0; k < cols; ++k) {
      const V x = v[k];
      a0 = madd(w0[k], x, a0);
      a1 = madd(w0[cols + k], x, a1);
      a2 = madd(w0[2 * cols + k], x, a2);
      a3 = madd(w0[3 * cols + k], x, a3);
    }
    out[g] = a0, out[g + 1] = a1, out[g + 2] = a2, out[g + 3] = a3;
  }
  for (; g < rows; ++g) {
    V a = bias[g];
    for (int64_t k = 0; k < cols; ++k) a = madd(w[g * cols + k], v[k], a);
    out[g] = a;
  }
}

// Residuals of the tile of networks [n0, n0 + cnt) occupy floats [n0, n0 + cnt) * per_net of
// the residual buffer, as [batch, time, 5*hidden, cnt]: lanes innermost, so a full tile
// stores and loads whole vectors.
template <typename V>
inline void put_res(float* base, int64_t k, int64_t cnt, V v) {
  if (cnt == lanes_of<V>) {
    std::memcpy(base + k * lanes_of<V>, &v, sizeof v);
  } else {
    for (int64_t l = 0; l < cnt; ++l) base[k * cnt + l] = v[l];
  }
}

template <typename V>
inline V get_res(const float* base, int64_t k, int64_t cnt) {
  V v{};
  if (cnt == lanes_of<V>) {
    std::memcpy(&v, base + k * lanes_of<V>, sizeof v);
  } else {
    for (int64_t l = 0; l < cnt; ++l) v[l] = base[k * cnt + l];
  }
  return v;
}

struct FwdArgs {
  Dims d;
  const float *w_ih, *w_hh, *b_ih, *b_hh, *xs;
  float *hs, *res;  // res may be null (no residuals wanted)
};

template <typename V, int kH, int kI>
void fwd_tile(const FwdArgs& a, int64_t n0) {
  const Dims& d = a.d;
  const int64_t H = kH ? kH : d.h, I = kI ? kI : d.i, G = 3 * H, T = d.t;
  const int64_t cnt = std::min<int64_t>(lanes_of<V>, d.n - n0);
  std::vector<V> wih(G * I), whh(G * H), bih(G), bhh(G), x(T * I), hs(T * H);
  float* res = a.res ? a.res + n0 * T * d.b * kRes * H : nullptr;
  constexpr int MH = kH ? kH : kMaxDim;
  std::vector<V> gi(T * G), gh(G);
  V h[MH];
  gather(a.w_ih, n0, cnt, G * I, wih.data());
  gather(a.w_hh, n0, cnt, G * H, whh.data());
  gather(a.b_ih, n0, cnt, G, bih.data());
  gather(a.b_hh, n0, cnt, G, bhh.data());
  for (int64_t b = 0; b < d.b; ++b) {
    gather_seq(a.xs, d, I, n0, cnt, b, x.data());
    for (int64_t j = 0; j < H; ++j) h[j] = V{};
    // input projections of every step first (no dependence on h), then the recurrence
    for (int64_t t = 0; t < T; ++t)
      matvec<V, kI>(wih.data(), bih.data(), x.data() + t * I, G, I, gi.data() + t * G);
    for (int64_t t = 0; t < T; ++t) {
      matvec<V, kH>(whh.data(), bhh.data(), h, G, H, gh.data());
      const V* git = gi.data() + t * G;
      for (int64_t j = 0; j < H; ++j) {
        V r, z, n;
        step_gates(git, gh.data(), H, j, &r, &z, &n);
        h[j] = madd(z, h[j], (1.0f - z) * n);
        hs[t * H + j] = h[j];
        if (res) {
          const int64_t k = (b * T + t) * kRes * H + j;
          if (kRes == 1) {
            put_res(res, k, cnt, h[j]);
          } else {
            put_res(res, k, cnt, r), put_res(res, k + H, cnt, z);
            put_res(res, k + 2 * H, cnt, n), put_res(res, k + 3 * H, cnt, gh[2 * H + j]);
            put_res(res, k + 4 * H, cnt, h[j]);
          }
        }
      }
    }
    scatter_seq(hs.data(), d, H, n0, cnt, b, a.hs);
  }
}

struct BwdArgs {
  Dims d;
  const float *w_ih, *w_hh, *b_ih, *b_hh, *xs, *res, *dhs;
  float *dw_ih, *dw_hh, *db_ih, *db_hh, *dxs;
};

template <typename V, int kH, int kI>
void bwd_tile(const BwdArgs& a, int64_t n0) {
  // Accumulators are local arrays: with DS1's compiled-in sizes the loops unroll and they
  // live in registers (through a pointer into a heap buffer the compiler must assume
  // aliasing and would load and store them at every step).
  constexpr int MH = kH ? kH : kMaxDim, MI = kI ? kI : kMaxDim;
  const Dims& d = a.d;
  const int64_t H = kH ? kH : d.h, I = kI ? kI : d.i, G = 3 * H, T = d.t;
  const int64_t cnt = std::min<int64_t>(lanes_of<V>, d.n - n0);
  std::vector<V> wih(G * I), whh(G * H), dwih(G * I), dwhh(G * H), dbih(G), dbhh(G);
  std::vector<V> x(T * I), hs((T + 1) * H), rz(T * 4 * H), dy(T * H), dx(T * I), dgi(T * G), dgh(T * G);
  const float* res = a.res + n0 * T * d.b * kRes * H;
  gather(a.w_ih, n0, cnt, G * I, wih.data());
  gather(a.w_hh, n0, cnt, G * H, whh.data());
  std::vector<V> bih, bhh, gi_t, gh_t;  // the forward's biases and one step's projections
  if (kRes == 1) {
    bih.resize(G), bhh.resize(G), gi_t.resize(G), gh_t.resize(G);
    gather(a.b_ih, n0, cnt, G, bih.data());
    gather(a.b_hh, n0, cnt, G, bhh.data());
  }
  for (int64_t j = 0; j < H; ++j) hs[j] = V{};  // hs[t + 1] = h_t; hs[0] = h_{-1} = 0
  for (int64_t b = 0; b < d.b; ++b) {
    gather_seq(a.xs, d, I, n0, cnt, b, x.data());
    gather_seq(a.dhs, d, H, n0, cnt, b, dy.data());
    for (int64_t t = 0; t < T; ++t) {
      const int64_t k = (b * T + t) * kRes * H;
      if (kRes == 1) {
        for (int64_t j = 0; j < H; ++j) hs[(t + 1) * H + j] = get_res<V>(res, k + j, cnt);
      } else {
        for (int64_t j = 0; j < 4 * H; ++j) rz[t * 4 * H + j] = get_res<V>(res, k + j, cnt);
        for (int64_t j = 0; j < H; ++j) hs[(t + 1) * H + j] = get_res<V>(res, k + 4 * H + j, cnt);
      }
    }
    if (kRes == 1) {
      // the forward's gates again, from h_{t-1} and x_t: every step at once (no recurrence)
      for (int64_t t = 0; t < T; ++t) {
        matvec<V, kI>(wih.data(), bih.data(), x.data() + t * I, G, I, gi_t.data());
        matvec<V, kH>(whh.data(), bhh.data(), hs.data() + t * H, G, H, gh_t.data());
        V* rt = rz.data() + t * 4 * H;
        for (int64_t j = 0; j < H; ++j) {
          step_gates(gi_t.data(), gh_t.data(), H, j, &rt[j], &rt[H + j], &rt[2 * H + j]);
          rt[3 * H + j] = gh_t[2 * H + j];
        }
      }
    }
    V dh[MH];
    for (int64_t j = 0; j < H; ++j) dh[j] = V{};
    for (int64_t t = T - 1; t >= 0; --t) {
      const V* rt = rz.data() + t * 4 * H;
      const V* hp = hs.data() + t * H;
      V* gi = dgi.data() + t * G;
      V* gh = dgh.data() + t * G;
      V nd[MH];
      for (int64_t j = 0; j < H; ++j) {
        const V r = rt[j], z = rt[H + j], n = rt[2 * H + j], ghn = rt[3 * H + j];
        const V g = dy[t * H + j] + dh[j];
        const V da_n = g * (1.0f - z) * madd(-n, n, 1.0f);
        const V da_z = g * (hp[j] - n) * z * (1.0f - z);
        const V da_r = da_n * ghn * r * (1.0f - r);
        gi[j] = da_r, gi[H + j] = da_z, gi[2 * H + j] = da_n;
        gh[j] = da_r, gh[H + j] = da_z, gh[2 * H + j] = da_n * r;
        nd[j] = g * z;
      }
      // dh_prev = dh * z + W_hh^T d_gh, one row of W_hh at a time
      for (int64_t k = 0; k < G; ++k) {
        const V s = gh[k];
        const V* w = whh.data() + k * H;
        for (int64_t j = 0; j < H; ++j) nd[j] = madd(w[j], s, nd[j]);
      }
      for (int64_t j = 0; j < H; ++j) dh[j] = nd[j];
    }
    // Input gradient and weight gradients over this sequence's time steps, after the loop.
    for (int64_t t = 0; t < T; ++t) {
      const V* gi = dgi.data() + t * G;
      V acc[MI];
      for (int64_t i = 0; i < I; ++i) acc[i] = V{};
      for (int64_t k = 0; k < G; ++k) {
        const V s = gi[k];
        const V* w = wih.data() + k * I;
        for (int64_t i = 0; i < I; ++i) acc[i] = madd(w[i], s, acc[i]);
      }
      for (int64_t i = 0; i < I; ++i) dx[t * I + i] = acc[i];
    }
    scatter_seq(dx.data(), d, I, n0, cnt, b, a.dxs);
    for (int64_t k = 0; k < G; ++k) {
      V aw[MI], au[MH];
      for (int64_t i = 0; i < I; ++i) aw[i] = dwih[k * I + i];
      for (int64_t j = 0; j < H; ++j) au[j] = dwhh[k * H + j];
      V sb = dbih[k], sc = dbhh[k];
      for (int64_t t = 0; t < T; ++t) {
        const V s = dgi[t * G + k], u = dgh[t * G + k];
        const V* xt = x.data() + t * I;
        const V* hp = hs.data() + t * H;
        for (int64_t i = 0; i < I; ++i) aw[i] = madd(s, xt[i], aw[i]);
        for (int64_t j = 0; j < H; ++j) au[j] = madd(u, hp[j], au[j]);
        sb += s, sc += u;
      }
      for (int64_t i = 0; i < I; ++i) dwih[k * I + i] = aw[i];
      for (int64_t j = 0; j < H; ++j) dwhh[k * H + j] = au[j];
      dbih[k] = sb, dbhh[k] = sc;
    }
  }
  scatter(dwih.data(), n0, cnt, G * I, a.dw_ih);
  scatter(dwhh.data(), n0, cnt, G * H, a.dw_hh);
  scatter(dbih.data(), n0, cnt, G, a.db_ih);
  scatter(dbhh.data(), n0, cnt, G, a.db_hh);
}

// Runs body(tile) for every tile, spread over XLA's intra-op thread pool (tiles are
// independent, so the split changes no result). The calling thread works too and then waits
// only for helpers that have already started: a helper that starts after the work is done
// returns at once, so a busy pool can never deadlock the call.
struct PoolState {
  std::mutex mu;
  std::condition_variable cv;
  int64_t active = 0;
  bool closed = false;
  std::atomic<int64_t> next{0};
};

template <typename F>
void for_tiles(ffi::ThreadPool& pool, int64_t n_tiles, F& body) {
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(pool.num_threads(), n_tiles));
  auto s = std::make_shared<PoolState>();
  F* bp = &body;
  for (int64_t w = 1; w < workers; ++w) {
    pool.Schedule([s, bp, n_tiles] {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->closed) return;
        ++s->active;
      }
      for (int64_t k; (k = s->next.fetch_add(1)) < n_tiles;) (*bp)(k);
      std::lock_guard<std::mutex> lock(s->mu);
      if (--s->active == 0) s->cv.notify_all();
    });
  }
  for (int64_t k; (k = s->next.fetch_add(1)) < n_tiles;) body(k);
  std::unique_lock<std::mutex> lock(s->mu);
  s->closed = true;
  s->cv.wait(lock, [&] { return s->active == 0; });
}

template <typename Args, typename Tile>
void dispatch(ffi::ThreadPool& pool, const Args& a, Tile tile) {
  const int64_t n_tiles = (a.d.n + kLanes - 1) / kLanes;
  auto body = [&](int64_t k) { tile(a, k * kLanes); };
  for_tiles(pool, n_tiles, body);
}

template <typename Buf>
ffi::Error read_dims(const Buf& xs, const Buf& w_hh, Dims* d) {
  auto xd = xs.dimensions();
  auto wd = w_hh.dimensions();
  if (xd.size() < 3 || wd.size() < 2)
    return ffi::Error::InvalidArgument("fused GRU: xs needs [..., time, batch, in]");
  const size_t r = xd.size();
  d->t = xd[r - 3], d->b = xd[r - 2], d->i = xd[r - 1], d->h = wd[wd.size() - 1];
  if (d->h > kMaxDim || d->i > kMaxDim)
    return ffi::Error::InvalidArgument("fused GRU: hidden and input sizes must be <= 64");
  d->n = 1;
  for (size_t k = 0; k + 3 < r; ++k) d->n *= xd[k];
  if (int64_t(w_hh.element_count()) != d->n * 3 * d->h * d->h)
    return ffi::Error::InvalidArgument("fused GRU: w_hh must be [..., 3*hidden, hidden] with "
                                       "the same leading axes as xs");
  return ffi::Error::Success();
}

template <bool kSave>
ffi::Error GruFwdImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> w_ih, ffi::Buffer<ffi::F32> w_hh,
                      ffi::Buffer<ffi::F32> b_ih, ffi::Buffer<ffi::F32> b_hh,
                      ffi::Buffer<ffi::F32> xs, ffi::ResultBuffer<ffi::F32> hs,
                      ffi::Result<ffi::AnyBuffer> res) {
  Dims d;
  if (auto e = read_dims(xs, w_hh, &d); e.failure()) return e;
  if (int64_t(w_ih.element_count()) != d.n * 3 * d.h * d.i ||
      int64_t(b_ih.element_count()) != d.n * 3 * d.h ||
      int64_t(b_hh.element_count()) != d.n * 3 * d.h)
    return ffi::Error::InvalidArgument("fused GRU: w_ih/b_ih/b_hh shapes do not match");
  FwdArgs a{d,           w_ih.typed_data(), w_hh.typed_data(), b_ih.typed_data(),
            b_hh.typed_data(), xs.typed_data(), hs->typed_data(),
            kSave ? static_cast<float*>(res->untyped_data()) : nullptr};
  auto run = [&](auto tile) { dispatch(pool, a, tile); };
  if (d.h == 12 && d.i == 5) run(fwd_tile<vf8, 12, 5>);
  else if (d.h == 12 && d.i == 12) run(fwd_tile<vf8, 12, 12>);
  else if (d.h == 24 && d.i == 2) run(fwd_tile<vf8, 24, 2>);  // DS3
  else if (d.h == 24 && d.i == 24) run(fwd_tile<vf8, 24, 24>);
  else run(fwd_tile<vf8, 0, 0>);
  return ffi::Error::Success();
}

ffi::Error GruBwdImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> w_ih, ffi::Buffer<ffi::F32> w_hh,
                      ffi::Buffer<ffi::F32> b_ih, ffi::Buffer<ffi::F32> b_hh,
                      ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> res,
                      ffi::Buffer<ffi::F32> dhs,
                      ffi::ResultBuffer<ffi::F32> dw_ih, ffi::ResultBuffer<ffi::F32> dw_hh,
                      ffi::ResultBuffer<ffi::F32> db_ih, ffi::ResultBuffer<ffi::F32> db_hh,
                      ffi::ResultBuffer<ffi::F32> dxs) {
  Dims d;
  if (auto e = read_dims(xs, w_hh, &d); e.failure()) return e;
  if (int64_t(w_ih.element_count()) != d.n * 3 * d.h * d.i ||
      int64_t(b_ih.element_count()) != d.n * 3 * d.h ||
      int64_t(b_hh.element_count()) != d.n * 3 * d.h ||
      int64_t(res.element_count()) != d.n * d.t * d.b * kRes * d.h ||
      int64_t(dhs.element_count()) != d.n * d.t * d.b * d.h)
    return ffi::Error::InvalidArgument("fused GRU backward: shapes do not match");
  BwdArgs a{d, w_ih.typed_data(), w_hh.typed_data(), b_ih.typed_data(), b_hh.typed_data(),
            xs.typed_data(), res.typed_data(), dhs.typed_data(), dw_ih->typed_data(),
            dw_hh->typed_data(), db_ih->typed_data(), db_hh->typed_data(), dxs->typed_data()};
  auto run = [&](auto tile) { dispatch(pool, a, tile); };
  if (d.h == 12 && d.i == 5) run(bwd_tile<vf8, 12, 5>);
  else if (d.h == 12 && d.i == 12) run(bwd_tile<vf8, 12, 12>);
  else if (d.h == 24 && d.i == 2) run(bwd_tile<vf8, 24, 2>);  // DS3
  else if (d.h == 24 && d.i == 24) run(bwd_tile<vf8, 24, 24>);
  else run(bwd_tile<vf8, 0, 0>);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(MldsGruFwd, GruFwdImpl<false>,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::AnyBuffer>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(MldsGruFwdTrain, GruFwdImpl<true>,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::AnyBuffer>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(MldsGruBwd, GruBwdImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
