#pragma once
// SHA-256 of up to four messages at once on one core, with the x86-64 SHA extensions (SHA-NI).
//
//   flash::sha256_state a, b;
//   flash::sha256_state* states[] = {&a, &b};
//   const unsigned char* blocks[] = {data_a, data_b};
//   flash::sha256_compress(states, blocks, n);           // n 64-byte blocks of each message
//   auto digest = flash::sha256_finish(a, tail_of_a);    // pads the last < 64 bytes
//
// Each round of SHA-256 needs the one before it, so hashing a single message leaves the CPU's
// SHA unit waiting on its own results most of the time (OpenSSL's rate); the rounds of other
// messages fill those waits: on the Intel host measured, two or more lanes hash 1.2x as fast
// as OpenSSL's single stream on data in L2 (bench_hash, docs/benchmarks.md). hash_files uses it
// for SHA-256 where sha256_lanes_supported().

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FLASH_SHA256_LANES 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace flash {

/// What a SHA-256 has compressed so far: its eight words and how many bytes went in.
struct sha256_state {
  std::array<std::uint32_t, 8> words{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::uint64_t bytes = 0;
};

inline constexpr std::size_t sha256_block_size = 64;
inline constexpr std::size_t sha256_max_lanes = 4;

/// Whether this CPU has the SHA extensions (and SSSE3 and SSE4.1, which the code also uses).
inline bool sha256_lanes_supported() noexcept {
#ifdef FLASH_SHA256_LANES
  static const bool supported = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return ssse3 && sse41 && (b & (1u << 29)) != 0;
  }();
  return supported;
#else
  return false;
#endif
}

#ifdef FLASH_SHA256_LANES
namespace detail::sha256_ni {

alignas(16) inline constexpr std::uint32_t round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

// GCC's intrinsics that take an immediate operand are inline functions where __OPTIMIZE__ is
// defined, and {fmt}'s '#pragma GCC optimize' leaves it defined after a precompiled header even
// at -O0; the immediate is then not folded and GCC rejects the call. These take it as a template
// argument, which is a constant whatever the optimisation.
#define FLASH_SHA_NI [[gnu::target("sha,sse4.1")]]
#ifdef __clang__  // Clang's take the immediate through a macro
template <int Bytes>
FLASH_SHA_NI inline __m128i align_right(__m128i high, __m128i low) noexcept { return _mm_alignr_epi8(high, low, Bytes); }
template <int Order>
FLASH_SHA_NI inline __m128i shuffle_words(__m128i words) noexcept { return _mm_shuffle_epi32(words, Order); }
template <int Mask>
FLASH_SHA_NI inline __m128i blend_halfwords(__m128i a, __m128i b) noexcept { return _mm_blend_epi16(a, b, Mask); }
#else
template <int Bytes>
FLASH_SHA_NI inline __m128i align_right(__m128i high, __m128i low) noexcept {
  return reinterpret_cast<__m128i>(
      __builtin_ia32_palignr128(reinterpret_cast<__v2di>(high), reinterpret_cast<__v2di>(low), Bytes * 8));
}
template <int Order>
FLASH_SHA_NI inline __m128i shuffle_words(__m128i words) noexcept {
  return reinterpret_cast<__m128i>(__builtin_ia32_pshufd(reinterpret_cast<__v4si>(words), Order));
}
template <int Mask>
FLASH_SHA_NI inline __m128i blend_halfwords(__m128i a, __m128i b) noexcept {
  return reinterpret_cast<__m128i>(
      __builtin_ia32_pblendw128(reinterpret_cast<__v8hi>(a), reinterpret_cast<__v8hi>(b), Mask));
}
#endif

// One message's registers: the state as the instructions want it (ABEF and CDGH), and the last
// four groups of four schedule words.
struct lane {
  __m128i abef, cdgh;
  __m128i schedule[4];
};

template <std::size_t N>
struct lanes {
  lane at[N];
  const unsigned char* data[N];
};

FLASH_SHA_NI inline lane load(const sha256_state& state) noexcept {
  const __m128i abcd = shuffle_words<0xB1>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state.words[0])));
  const __m128i efgh = shuffle_words<0x1B>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state.words[4])));
  return {align_right<8>(abcd, efgh), blend_halfwords<0xF0>(efgh, abcd), {}};
}

FLASH_SHA_NI inline void store(const lane& registers, sha256_state& state) noexcept {
  const __m128i feba = shuffle_words<0x1B>(registers.abef);
  const __m128i dchg = shuffle_words<0xB1>(registers.cdgh);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state.words[0]), blend_halfwords<0xF0>(feba, dchg));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state.words[4]), align_right<8>(dchg, feba));
}

// Rounds 4G to 4G+3 of lane J: the message's words G (read, or scheduled from the four groups
// before), then two rounds with each half of them.
template <std::size_t G, std::size_t J, std::size_t N>
FLASH_SHA_NI inline void four_rounds(lanes<N>& all) noexcept {
  lane& l = all.at[J];
  __m128i words;
  if constexpr (G < 4) {
    const __m128i big_endian = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    words = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(all.data[J] + 16 * G)), big_endian);
  } else {
    __m128i next = _mm_sha256msg1_epu32(l.schedule[(G - 4) % 4], l.schedule[(G - 3) % 4]);
    next = _mm_add_epi32(next, align_right<4>(l.schedule[(G - 1) % 4], l.schedule[(G - 2) % 4]));
    words = _mm_sha256msg2_epu32(next, l.schedule[(G - 1) % 4]);
  }
  l.schedule[G % 4] = words;
  __m128i with_constants =
      _mm_add_epi32(words, _mm_load_si128(reinterpret_cast<const __m128i*>(&round_constants[4 * G])));
  l.cdgh = _mm_sha256rnds2_epu32(l.cdgh, l.abef, with_constants);
  with_constants = shuffle_words<0x0E>(with_constants);
  l.abef = _mm_sha256rnds2_epu32(l.abef, l.cdgh, with_constants);
}

// Each group of four rounds for every lane before the next group, so that the lanes' rounds
// are interleaved in the instruction stream.
template <std::size_t G, std::size_t N, std::size_t... J>
FLASH_SHA_NI inline void four_rounds_each(lanes<N>& all, std::index_sequence<J...>) noexcept {
  (four_rounds<G, J>(all), ...);
}

template <std::size_t N, std::size_t... G>
FLASH_SHA_NI inline void sixty_four_rounds(lanes<N>& all, std::index_sequence<G...>) noexcept {
  (four_rounds_each<G>(all, std::make_index_sequence<N>{}), ...);
}

inline constexpr std::size_t prefetch_distance = 4 * sha256_block_size;

template <std::size_t N>
FLASH_SHA_NI void compress(sha256_state* const* states, const unsigned char* const* data,
                                            std::size_t blocks) noexcept {
  lanes<N> all;
  for (std::size_t j = 0; j < N; ++j) {
    all.at[j] = load(*states[j]);
    all.data[j] = data[j];
  }
  for (std::size_t block = 0; block < blocks; ++block) {
    // A few blocks ahead of each lane, since the hardware's prefetcher stops at each page's end:
    // flash-hash on 64 mapped files of 16 MiB took 3.8% less time. A prefetch never faults, so
    // one past the data's end is harmless.
    for (std::size_t j = 0; j < N; ++j)
      __builtin_prefetch(all.data[j] + prefetch_distance, 0, 3);  // for reading, into every cache level
    lane before[N];
    for (std::size_t j = 0; j < N; ++j) before[j] = all.at[j];
    sixty_four_rounds(all, std::make_index_sequence<16>{});
    for (std::size_t j = 0; j < N; ++j) {
      all.at[j].abef = _mm_add_epi32(all.at[j].abef, before[j].abef);
      all.at[j].cdgh = _mm_add_epi32(all.at[j].cdgh, before[j].cdgh);
      all.data[j] += sha256_block_size;
    }
  }
  for (std::size_t j = 0; j < N; ++j) {
    store(all.at[j], *states[j]);
    states[j]->bytes += blocks * sha256_block_size;
  }
}

}  // namespace detail::sha256_ni
#undef FLASH_SHA_NI
#endif

/// Compresses `blocks` 64-byte blocks of each message, data[i] into *states[i], interleaved; for
/// one to sha256_max_lanes messages. Only where sha256_lanes_supported().
inline void sha256_compress(std::span<sha256_state* const> states, std::span<const unsigned char* const> data,
                            std::size_t blocks) noexcept {
#ifdef FLASH_SHA256_LANES
  switch (states.size()) {
    case 1: return detail::sha256_ni::compress<1>(states.data(), data.data(), blocks);
    case 2: return detail::sha256_ni::compress<2>(states.data(), data.data(), blocks);
    case 3: return detail::sha256_ni::compress<3>(states.data(), data.data(), blocks);
    case 4: return detail::sha256_ni::compress<4>(states.data(), data.data(), blocks);
    default: break;
  }
#endif
  (void)states, (void)data, (void)blocks;
}

/// The digest of a message whose first state.bytes bytes are in `state` and whose last
/// tail.size() (< 64) bytes follow: pads them with the message's length and compresses that.
inline std::array<unsigned char, 32> sha256_finish(sha256_state& state, std::span<const unsigned char> tail) noexcept {
  const std::uint64_t bits = (state.bytes + tail.size()) * 8;
  unsigned char last[2 * sha256_block_size] = {};
  std::memcpy(last, tail.data(), tail.size());
  last[tail.size()] = 0x80;
  const std::size_t size = tail.size() + 1 + 8 <= sha256_block_size ? sha256_block_size : 2 * sha256_block_size;
  for (std::size_t i = 0; i < 8; ++i) last[size - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  sha256_state* states[] = {&state};
  const unsigned char* data[] = {last};
  sha256_compress(states, data, size / sha256_block_size);
  std::array<unsigned char, 32> digest{};
  for (std::size_t i = 0; i < 8; ++i)
    for (std::size_t byte = 0; byte < 4; ++byte)
      digest[4 * i + byte] = static_cast<unsigned char>(state.words[i] >> (24 - 8 * byte));
  return digest;
}

}  // namespace flash
