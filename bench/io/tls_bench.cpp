// What sealing and opening TLS records costs one core (io/tls.hpp: TLS 1.3,
// AES-128-GCM, keyed by the cluster secret) — the bound on an encrypted
// link's throughput when records are sealed in user space (no kTLS here).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <string>
#include <vector>

#include "io/tls.hpp"

namespace {

const std::string secret = "0123456789abcdef-benchmark-secret";

/// Runs the TLS handshake between two sessions in memory; true if both
/// ended established.
bool shake(shoal::io::TlsSession& client, shoal::io::TlsSession& server) {
  std::vector<std::byte> a, b, plain;
  client.start(a);
  for (int i = 0; i < 8 && !(a.empty() && b.empty()); ++i) {
    std::vector<std::byte> in;
    in.swap(a);
    server.receive(in, plain, b);
    in.clear();
    in.swap(b);
    client.receive(in, plain, a);
  }
  return client.established() && server.established();
}

struct Pair {
  shoal::io::TlsContext ctx{secret};
  shoal::io::TlsSession client{ctx, shoal::io::TlsSession::Role::client};
  shoal::io::TlsSession server{ctx, shoal::io::TlsSession::Role::server};
  Pair() { shake(client, server); }
};

// Seals one batch-sized write (a frame of NodeConfig::batch_bytes) into records.
void BM_Tls_Seal(benchmark::State& state) {
  Pair p;
  std::vector<std::byte> plain(static_cast<std::size_t>(state.range(0)), std::byte{0x5a});
  std::vector<std::byte> wire;
  for (auto _ : state) {
    wire.clear();
    p.client.send(plain, wire);
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Tls_Seal)->ArgName("bytes")->Arg(4096)->Arg(64 << 10);

// Seals and opens one batch-sized write: both ends' cost for one frame.
void BM_Tls_SealAndOpen(benchmark::State& state) {
  Pair p;
  std::vector<std::byte> plain(static_cast<std::size_t>(state.range(0)), std::byte{0x5a});
  std::vector<std::byte> wire, out, back;
  for (auto _ : state) {
    wire.clear();
    out.clear();
    p.client.send(plain, wire);
    p.server.receive(wire, out, back);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Tls_SealAndOpen)->ArgName("bytes")->Arg(64)->Arg(4096)->Arg(64 << 10);

// What a node pays once for NodeConfig::tls: its two SSL_CTXs.
void BM_Tls_Context(benchmark::State& state) {
  for (auto _ : state) {
    shoal::io::TlsContext ctx{secret};
    benchmark::DoNotOptimize(&ctx);
  }
}
BENCHMARK(BM_Tls_Context)->Unit(benchmark::kMicrosecond);

// What each connection pays: two sessions and the whole TLS handshake
// (PSK with an X25519 exchange), both sides on this core.
void BM_Tls_Handshake(benchmark::State& state) {
  shoal::io::TlsContext ctx{secret};
  for (auto _ : state) {
    shoal::io::TlsSession client{ctx, shoal::io::TlsSession::Role::client};
    shoal::io::TlsSession server{ctx, shoal::io::TlsSession::Role::server};
    if (!shake(client, server)) state.SkipWithError("no handshake");
  }
}
BENCHMARK(BM_Tls_Handshake)->Unit(benchmark::kMicrosecond);

}  // namespace
