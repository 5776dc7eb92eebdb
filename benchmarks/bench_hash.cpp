// SHA-256 on one core: OpenSSL's single stream (the openssl-speed limit of issue 5) against
// flash::sha256_compress with 1 to 4 messages interleaved, on 256 KiB per message (a lane's read
// in hash_files, in L2) and on 16 MiB (from memory). Bytes per second count every lane's bytes.
//
//   build-release/benchmarks/bench_hash --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <flash/ops/sha256_lanes.hpp>

#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstddef>
#include <vector>

namespace {

std::vector<unsigned char> message(std::size_t size, unsigned char fill) { return std::vector<unsigned char>(size, fill); }

void openssl_sha256(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto data = message(size, 1);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  for (auto _ : state) EVP_DigestUpdate(context, data.data(), size);
  EVP_MD_CTX_free(context);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(openssl_sha256)->Arg(256 << 10)->Arg(16 << 20);

void flash_sha256_lanes(benchmark::State& state) {
  if (!flash::sha256_lanes_supported()) {
    state.SkipWithError("this CPU has no SHA extensions");
    return;
  }
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto lanes = static_cast<std::size_t>(state.range(1));
  std::vector<std::vector<unsigned char>> messages;
  std::vector<flash::sha256_state> states(lanes);
  std::vector<flash::sha256_state*> state_of;
  std::vector<const unsigned char*> data_of;
  for (std::size_t j = 0; j < lanes; ++j) messages.push_back(message(size, static_cast<unsigned char>(j)));
  for (std::size_t j = 0; j < lanes; ++j) {
    state_of.push_back(&states[j]);
    data_of.push_back(messages[j].data());
  }
  for (auto _ : state) flash::sha256_compress(state_of, data_of, size / flash::sha256_block_size);
  benchmark::DoNotOptimize(states.data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size * lanes));
}
BENCHMARK(flash_sha256_lanes)->ArgsProduct({{256 << 10, 16 << 20}, {1, 2, 3, 4}});

}  // namespace

BENCHMARK_MAIN();
