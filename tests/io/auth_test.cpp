// Authentication (io/auth.hpp): the proofs themselves, the secret's
// sources, and nodes that share a secret, do not, or face a client that
// has none — refused before any of its frames is acted on, and unable to
// displace a peer whose address it claims.
#include "io/auth.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/core/test_support.hpp"
#include "tests/io/io_kit.hpp"

namespace shoal::io::test {
namespace {

using shoal::io::detail::fresh_nonce;
using shoal::io::detail::handshake_proof;
using shoal::io::detail::HandshakeSide;
using shoal::io::detail::proof_matches;
using shoal::io::detail::Role;

const std::string secret_one = "0123456789abcdef-the-first-cluster";
const std::string secret_two = "0123456789abcdef-another-cluster!";

TEST(Auth, AProofDependsOnTheRoleBothNoncesBothAddressesAndIncarnations) {
  auto nd = fresh_nonce(), na = fresh_nonce();
  EXPECT_NE(nd, na) << "two fresh nonces are equal";
  HandshakeSide d{nd, "10.0.0.1:7000", 11}, a{na, "10.0.0.2:7000", 22};
  auto base = handshake_proof(secret_one, Role::acceptor, d, a);
  EXPECT_TRUE(proof_matches(base, handshake_proof(secret_one, Role::acceptor, d, a)));
  EXPECT_FALSE(proof_matches(base, handshake_proof(secret_one, Role::dialer, d, a)));
  EXPECT_FALSE(proof_matches(base, handshake_proof(secret_two, Role::acceptor, d, a)));
  auto other = fresh_nonce();
  EXPECT_FALSE(proof_matches(
      base, handshake_proof(secret_one, Role::acceptor, {other, d.address, d.incarnation}, a)));
  EXPECT_FALSE(proof_matches(
      base, handshake_proof(secret_one, Role::acceptor, {nd, "10.0.0.3:7000", 11}, a)));
  EXPECT_FALSE(
      proof_matches(base, handshake_proof(secret_one, Role::acceptor, d, {na, a.address, 23})));
  // Length-prefixed: moving a byte from one address to the other changes it.
  EXPECT_FALSE(
      proof_matches(base, handshake_proof(secret_one, Role::acceptor, {nd, "10.0.0.1:700", 11},
                                          {na, "010.0.0.2:7000", 22})));
  std::vector<std::byte> short_proof(base.begin(), base.end() - 1);
  EXPECT_FALSE(proof_matches(short_proof, base));
}

TEST(Auth, ASecretFileMustBeTheOwnersAloneAndLongEnough) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/shoal-secret-" + std::to_string(::getpid());
  auto write = [&](const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::trunc) << text;
    ::chmod(path.c_str(), mode);
  };
  write(secret_one + "\n", 0600);
  EXPECT_EQ(read_secret_file(path), secret_one) << "one trailing newline is dropped";
  write(secret_one, 0644);
  EXPECT_THROW(read_secret_file(path), std::runtime_error) << "readable by others";
  write("short", 0600);
  EXPECT_THROW(read_secret_file(path), std::runtime_error) << "under 16 bytes";
  ::unlink(path.c_str());
  EXPECT_THROW(read_secret_file(path), std::runtime_error) << "missing";

  ::setenv("SHOAL_TEST_SECRET", secret_two.c_str(), 1);
  EXPECT_EQ(secret_from_environment("SHOAL_TEST_SECRET"), secret_two);
  ::setenv("SHOAL_TEST_SECRET", "short", 1);
  EXPECT_THROW(secret_from_environment("SHOAL_TEST_SECRET"), std::runtime_error);
  ::unsetenv("SHOAL_TEST_SECRET");
  EXPECT_THROW(secret_from_environment("SHOAL_TEST_SECRET"), std::runtime_error);
}

/// Nodes made to order; one io thread per node or two (an accepted
/// connection then moves to its peer's io thread while the handshake, and
/// the proof, are under way).
class Authenticated : public TwoSystems<unsigned> {
 protected:
  NodeConfig config(const std::string& secret) {
    NodeConfig c = logging_config();
    c.io_threads = GetParam();
    c.secret = secret;
    c.backoff_min = 1ms;
    c.backoff_max = 5ms;
    c.max_attempts = 3;
    return c;
  }
  /// b's "echo", counting into the returned counter.
  std::shared_ptr<Counter> echo_on_b() {
    auto seen = std::make_shared<Counter>();
    EXPECT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
    return seen;
  }
};

TEST_P(Authenticated, NodesWithTheSameSecretTalk) {
  a.emplace(*a_sys, types, config(secret_one));
  b.emplace(*b_sys, types, config(secret_one));
  expect_requests_both_ways();
  if (HasFatalFailure()) return;
  EXPECT_EQ(a->stats().auth_failures + b->stats().auth_failures, 0u);
  EXPECT_EQ(a->stats().connections_opened, 1u);
  EXPECT_EQ(b->stats().connections_opened, 1u);
}

TEST_P(Authenticated, AWrongSecretIsRefusedAndNothingIsDelivered) {
  a.emplace(*a_sys, types, config(secret_one));
  b.emplace(*b_sys, types, config(secret_two));
  auto seen = echo_on_b();
  auto r = a_sys->request_future<Ping>(a->pid(b->address(), "echo"), Ping{1}, 30s).result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::delivery_failed) << r.what();
  // The dialer checks the acceptor's proof first: a refuses b.
  EXPECT_GE(a->stats().auth_failures, 1u);
  EXPECT_TRUE(logged("authentication failed")) << "a logged no authentication failure";
  EXPECT_EQ(seen->get(), 0u);
  EXPECT_EQ(b->stats().messages_received, 0u);
  EXPECT_EQ(b->stats().connections_opened, 0u);
}

TEST_P(Authenticated, ANodeWithoutTheSecretIsRefusedByOneThatHasIt) {
  a.emplace(*a_sys, types, config(""));
  b.emplace(*b_sys, types, config(secret_one));
  auto seen = echo_on_b();
  auto r = a_sys->request_future<Ping>(a->pid(b->address(), "echo"), Ping{1}, 30s).result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::delivery_failed) << r.what();
  EXPECT_TRUE(shoal::test::eventually([&] { return b->stats().auth_failures >= 1; },
                                      "b to count the refusal"));
  EXPECT_TRUE(logged("authentication required")) << "a was not told why";
  EXPECT_EQ(seen->get(), 0u);
  EXPECT_EQ(b->stats().connections_opened, 0u);
}

/// A handshake a raw client writes, claiming `address`; with a nonce if
/// `nonce` (asking to authenticate), never with a proof it cannot make.
std::vector<std::byte> raw_handshake(const std::string& address, bool nonce,
                                     std::uint64_t incarnation = 77) {
  static const auto n = fresh_nonce();
  wire::HandshakeInfo info{address, incarnation};
  if (nonce) info.nonce = n;
  wire::ControlWriter w;
  std::vector<std::byte> out;
  w.handshake(info, out);
  return out;
}

/// Does the frame list in `bytes` contain a handshake?
bool has_handshake(const std::vector<std::byte>& bytes) {
  bool found = false;
  for_each_frame(bytes, [&](wire::schema::Frame::Reader f) { found = found || f.isHandshake(); });
  return found;
}

TEST_P(Authenticated, AClientWithoutTheSecretCanNeitherStopNorWatchNorSend) {
  b.emplace(*b_sys, types, config(secret_one));
  auto seen = echo_on_b();
  wire::ControlWriter w;
  // No nonce: refused at the handshake; the stop and the watch behind it
  // in the same write are never read.
  {
    std::vector<std::byte> bytes = raw_handshake("127.0.0.1:9", false);
    w.stop({0, "echo", {}}, bytes);
    w.watch({5, {}, {}}, {0, "echo", {}}, true, bytes);
    RawClient raw(b->address());
    raw.write(bytes);
    auto [got, eof] = raw.read_to_eof();
    EXPECT_TRUE(eof);
    EXPECT_NE(disconnect_reason(got).find("authentication required"), std::string::npos)
        << disconnect_reason(got);
    EXPECT_FALSE(has_handshake(got)) << "the node answered a client that offered no proof";
  }
  // A nonce but no proof: the node answers (with its own proof), then
  // reads nothing but the dialer's proof.
  {
    RawClient raw(b->address());
    raw.write(raw_handshake("127.0.0.1:9", true));
    ASSERT_TRUE(has_handshake(raw.read_frame())) << "no answer to a handshake with a nonce";
    std::vector<std::byte> bytes;
    w.stop({0, "echo", {}}, bytes);
    raw.write(bytes);
    auto [got, eof] = raw.read_to_eof();
    EXPECT_TRUE(eof);
    EXPECT_NE(disconnect_reason(got).find("before the proof"), std::string::npos)
        << disconnect_reason(got);
  }
  // A made-up proof.
  {
    RawClient raw(b->address());
    raw.write(raw_handshake("127.0.0.1:9", true));
    ASSERT_TRUE(has_handshake(raw.read_frame()));
    std::vector<std::byte> bytes;
    std::vector<std::byte> junk(32, std::byte{0x42});
    w.auth(junk, bytes);
    w.stop({0, "echo", {}}, bytes);
    raw.write(bytes);
    auto [got, eof] = raw.read_to_eof();
    EXPECT_TRUE(eof);
    EXPECT_NE(disconnect_reason(got).find("authentication failed"), std::string::npos)
        << disconnect_reason(got);
  }
  EXPECT_FALSE(b_sys->lookup("echo").empty()) << "a client without the secret stopped the echo";
  EXPECT_GE(b->stats().auth_failures, 2u);
  EXPECT_EQ(b->stats().connections_opened, 0u);
  EXPECT_EQ(b->stats().messages_received, 0u);
  // A node with the secret is still served.
  a.emplace(*a_sys, types, config(secret_one));
  auto r = a_sys->request_future<Ping>(a->pid(b->address(), "echo"), Ping{3}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
}

TEST_P(Authenticated, AClientClaimingAConnectedNodesAddressCannotDisplaceIt) {
  a.emplace(*a_sys, types, config(secret_one));
  b.emplace(*b_sys, types, config(secret_one));
  auto seen = echo_on_b();
  Pid echo = a->pid(b->address(), "echo");
  ASSERT_TRUE(a_sys->request_future<Ping>(echo, Ping{1}, 30s).result().ok());
  // Had the real connection been dropped for an impostor, a's next
  // requests would open another and its pending futures would have failed.
  const auto closed_before = b->stats().connections_closed;
  for (int i = 0; i < 5; ++i) {
    RawClient raw(b->address());
    raw.write(raw_handshake(a->address(), true, a->incarnation()));
    ASSERT_TRUE(has_handshake(raw.read_frame()));
    std::vector<std::byte> bytes;
    std::vector<std::byte> junk(32, std::byte{std::uint8_t(i)});
    wire::ControlWriter().auth(junk, bytes);
    raw.write(bytes);
    auto [got, eof] = raw.read_to_eof();
    EXPECT_TRUE(eof);
    EXPECT_NE(disconnect_reason(got).find("authentication failed"), std::string::npos);
  }
  for (std::uint64_t i = 0; i < 10; ++i) {
    auto r = a_sys->request_future<Ping>(echo, Ping{i}, 30s).result();
    ASSERT_TRUE(r.ok()) << r.what();
  }
  EXPECT_EQ(a->stats().connections_opened, 1u) << "the real peer's connection was replaced";
  EXPECT_EQ(a->stats().futures_failed, 0u);
  // b closed only the five impostors' connections.
  EXPECT_EQ(b->stats().connections_closed - closed_before, 5u);
  EXPECT_EQ(b->stats().auth_failures, 5u);
}

TEST_P(Authenticated, ANodeWithoutASecretRefusesAPeerThatAsksToAuthenticate) {
  b.emplace(*b_sys, types, config(""));
  RawClient raw(b->address());
  raw.write(raw_handshake("127.0.0.1:9", true));
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  EXPECT_NE(disconnect_reason(got).find("no cluster secret"), std::string::npos)
      << disconnect_reason(got);
}

TEST_P(Authenticated, ASecretUnder16BytesIsAConfigurationError) {
  EXPECT_THROW(Node(*b_sys, types, config("short")), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(IoThreads, Authenticated, ::testing::Values(1u, 2u), io_threads_name);

}  // namespace
}  // namespace shoal::io::test
