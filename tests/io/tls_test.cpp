// io/tls.hpp: TLS 1.3 sessions keyed by the cluster secret, run through
// memory only — two sessions handing each other their bytes.
#include "io/tls.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace shoal::io {
namespace {

const std::string secret = "0123456789abcdef-the-first-cluster";

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

/// Hands each side what the other wrote until neither writes more; false
/// if either failed. `chunk` > 0 feeds the bytes that many at a time.
bool run_handshake(TlsSession& client, TlsSession& server, std::size_t chunk = 0) {
  std::vector<std::byte> to_server, to_client, plain;
  if (!client.start(to_server)) return false;
  for (int round = 0; round < 16 && !(to_server.empty() && to_client.empty()); ++round) {
    auto feed = [&](TlsSession& s, std::vector<std::byte>& in, std::vector<std::byte>& out) {
      std::vector<std::byte> taken;
      taken.swap(in);
      std::size_t step = chunk == 0 ? std::max<std::size_t>(taken.size(), 1) : chunk;
      for (std::size_t at = 0; at < taken.size(); at += step) {
        std::span<const std::byte> part(taken.data() + at, std::min(step, taken.size() - at));
        if (!s.receive(part, plain, out)) return false;
      }
      return true;
    };
    if (!feed(server, to_server, to_client)) return false;
    if (!feed(client, to_client, to_server)) return false;
  }
  return client.established() && server.established() && plain.empty();
}

TEST(Tls, TwoSessionsWithOneSecretShakeHandsAndCarryBytesBothWays) {
  TlsContext ctx(secret);
  TlsSession client(ctx, TlsSession::Role::client), server(ctx, TlsSession::Role::server);
  ASSERT_TRUE(run_handshake(client, server)) << client.error() << " / " << server.error();
  std::vector<std::byte> wire, plain;
  ASSERT_TRUE(client.send(bytes_of("hello over tls"), wire));
  EXPECT_EQ(
      std::string(reinterpret_cast<const char*>(wire.data()), wire.size()).find("hello over tls"),
      std::string::npos)
      << "the plaintext is on the wire";
  std::vector<std::byte> back;
  ASSERT_TRUE(server.receive(wire, plain, back)) << server.error();
  EXPECT_EQ(plain, bytes_of("hello over tls"));
  // A megabyte the other way, over many records.
  std::vector<std::byte> big(1 << 20);
  std::mt19937 rng(7);
  for (auto& b : big) b = std::byte(rng());
  wire.clear();
  plain.clear();
  ASSERT_TRUE(server.send(big, wire));
  EXPECT_GT(wire.size(), big.size());
  ASSERT_TRUE(client.receive(wire, plain, back)) << client.error();
  EXPECT_EQ(plain, big);
}

TEST(Tls, BytesArrivingOneAtATimeStillMakeTheHandshakeAndTheRecords) {
  TlsContext ctx(secret);
  TlsSession client(ctx, TlsSession::Role::client), server(ctx, TlsSession::Role::server);
  ASSERT_TRUE(run_handshake(client, server, 1)) << client.error() << " / " << server.error();
  std::vector<std::byte> wire, plain, back;
  ASSERT_TRUE(client.send(bytes_of("piecemeal"), wire));
  for (std::byte b : wire) ASSERT_TRUE(server.receive({&b, 1}, plain, back)) << server.error();
  EXPECT_EQ(plain, bytes_of("piecemeal"));
}

TEST(Tls, ADifferentSecretFailsTheHandshake) {
  TlsContext mine(secret), theirs("0123456789abcdef-another-cluster!");
  TlsSession client(mine, TlsSession::Role::client), server(theirs, TlsSession::Role::server);
  EXPECT_FALSE(run_handshake(client, server));
  EXPECT_FALSE(client.established() && server.established());
  EXPECT_FALSE(client.error().empty() && server.error().empty()) << "no side said why";
}

TEST(Tls, ATamperedRecordDoesNotOpen) {
  TlsContext ctx(secret);
  TlsSession client(ctx, TlsSession::Role::client), server(ctx, TlsSession::Role::server);
  ASSERT_TRUE(run_handshake(client, server));
  std::vector<std::byte> wire, plain, back;
  ASSERT_TRUE(client.send(bytes_of("do not touch"), wire));
  wire[wire.size() - 3] ^= std::byte{1};
  EXPECT_FALSE(server.receive(wire, plain, back));
  EXPECT_TRUE(plain.empty());
  EXPECT_FALSE(server.error().empty());
}

TEST(Tls, SendingBeforeTheHandshakeIsRefused) {
  TlsContext ctx(secret);
  TlsSession client(ctx, TlsSession::Role::client);
  std::vector<std::byte> wire;
  EXPECT_FALSE(client.send(bytes_of("early"), wire));
  EXPECT_THROW(TlsContext("short"), std::runtime_error);
}

}  // namespace
}  // namespace shoal::io
