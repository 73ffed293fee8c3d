// ns per pick of every balancing algorithm at 3, 100 and 1000 servers, single thread.
//
// Servers have weights 1..4 and a few exchanges in flight each (so least_connections, p2c_ewma,
// ring_hash's load bound and first see real numbers); hashing algorithms get a different key
// per pick from a precomputed set, as the engine passes a precomputed hash_of(address). The
// "/out10%" rows have every tenth server down, which sends some picks to the slow paths;
// "/busy" rows have no idle server (1..5 in flight each), the worst case of least_connections
// and of ring_hash's load bound, which stop early at an idle server otherwise.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.h"

namespace fulcrum::balance {
namespace {

struct Variant {
  const char* name;
  Algorithm algorithm;
  BalancerOptions options;
};

std::vector<Variant> variants() {
  BalancerOptions ring;
  ring.hash_kind = ConsistentHashKind::kRingHash;
  BalancerOptions capped;
  capped.max_connections = 4;
  return {
      {"round_robin", Algorithm::kRoundRobin, {}},
      {"weighted_round_robin", Algorithm::kWeightedRoundRobin, {}},
      {"least_connections", Algorithm::kLeastConnections, {}},
      {"random", Algorithm::kRandom, {}},
      {"p2c_ewma", Algorithm::kP2cEwma, {}},
      {"source_hash", Algorithm::kSourceHash, {}},
      {"maglev", Algorithm::kConsistentHash, {}},
      {"ring_hash_bounded", Algorithm::kConsistentHash, ring},
      {"first", Algorithm::kFirst, {}},
      {"first_max_conn", Algorithm::kFirst, capped},
  };
}

enum class Mode { kHealthy, kOut10, kBusy };

void pick(benchmark::State& state, const Variant& v, int n, Mode mode) {
  std::vector<std::unique_ptr<Server>> owned;
  std::vector<Server*> raw;
  for (int i = 0; i < n; ++i) {
    auto s = std::make_unique<Server>();
    s->name = "server-" + std::to_string(i);
    s->weight = 1 + static_cast<std::uint32_t>(i % 4);
    s->active = static_cast<std::uint32_t>((i * 7) % 5 + (mode == Mode::kBusy ? 1 : 0));
    s->ewma_ns = 1'000'000 + static_cast<std::uint64_t>(i % 13) * 50'000;
    if (mode == Mode::kOut10 && i % 10 == 9) s->up = false;
    raw.push_back(s.get());
    owned.push_back(std::move(s));
  }
  auto balancer = make_balancer(v.algorithm, raw, v.options);
  std::vector<std::uint64_t> keys(4096);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = hash_of("client-" + std::to_string(i));
  PickContext ctx;
  std::size_t i = 0;
  for (auto _ : state) {
    ctx.hash = keys[i++ & 4095];
    benchmark::DoNotOptimize(balancer->pick(ctx));
  }
}

}  // namespace
}  // namespace fulcrum::balance

int main(int argc, char** argv) {
  using namespace fulcrum::balance;
  static const std::vector<Variant> all = variants();
  for (const Variant& v : all) {
    for (int n : {3, 100, 1000}) {
      benchmark::RegisterBenchmark(
          (std::string(v.name) + "/" + std::to_string(n)).c_str(),
          [&v, n](benchmark::State& st) { pick(st, v, n, Mode::kHealthy); });
    }
    benchmark::RegisterBenchmark((std::string(v.name) + "/1000/out10%").c_str(),
                                 [&v](benchmark::State& st) { pick(st, v, 1000, Mode::kOut10); });
    benchmark::RegisterBenchmark((std::string(v.name) + "/1000/busy").c_str(),
                                 [&v](benchmark::State& st) { pick(st, v, 1000, Mode::kBusy); });
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
