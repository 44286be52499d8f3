// Nodes over TLS (NodeConfig::tls): what goes on the wire is TLS records,
// the shoal handshake and its proofs run inside them, a client with another
// key or none is refused before any frame of its is read (and told why),
// a TLS node and a plain one refuse each other saying why, and messages
// far larger than one record arrive whole. (The whole two-node suite also
// runs over TLS: node_test.cpp's *Tls shapes.)
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "io/auth.hpp"
#include "io/tls.hpp"
#include "tests/core/test_support.hpp"
#include "tests/io/io_kit.hpp"

namespace shoal::io::test {
namespace {

const std::string secret_one = "0123456789abcdef-the-first-cluster";
const std::string secret_two = "0123456789abcdef-another-cluster!";

/// A raw client that speaks TLS with a key of its choosing, over a plain
/// socket: the tests' stand-in for a hostile peer that holds the key (or
/// believes it does).
class TlsClient {
 public:
  TlsClient(const std::string& address, const std::string& secret)
      : ctx_(secret), session_(ctx_, TlsSession::Role::client), raw_(address) {}

  /// Runs the TLS handshake; false if it failed (`error()` says why) or
  /// the node closed. `first_reply` gets the node's first bytes, as sent.
  bool handshake(std::vector<std::byte>* first_reply = nullptr) {
    std::vector<std::byte> to_send;
    if (!session_.start(to_send)) return false;
    raw_.write(to_send);
    while (!session_.established()) {
      std::vector<std::byte> got = raw_.read_some();
      if (got.empty()) return false;
      if (first_reply != nullptr && first_reply->empty()) *first_reply = got;
      to_send.clear();
      const bool ok = session_.receive(got, plain_, to_send);
      raw_.write(to_send);
      if (!ok) return false;
    }
    return true;
  }
  void write(const std::vector<std::byte>& frames) {
    std::vector<std::byte> sealed;
    ASSERT_TRUE(session_.send(frames, sealed)) << session_.error();
    raw_.write(sealed);
  }
  /// Opened bytes until a whole frame has come; empty on EOF or failure.
  /// `wire_bytes` gets the bytes as they crossed the socket.
  std::vector<std::byte> read_frame(std::vector<std::byte>* wire_bytes = nullptr) {
    for (;;) {
      wire::FrameHeader h;
      wire::FrameError err = wire::FrameError::none;
      if (wire::parse_frame_header(plain_, {}, h, err) == wire::HeaderStatus::ok &&
          h.frame_bytes <= plain_.size()) {
        return std::exchange(plain_, {});
      }
      std::vector<std::byte> got = raw_.read_some();
      if (got.empty()) return {};
      if (wire_bytes != nullptr) wire_bytes->insert(wire_bytes->end(), got.begin(), got.end());
      std::vector<std::byte> to_send;
      if (!session_.receive(got, plain_, to_send)) return {};
    }
  }
  /// Opened bytes until the node closes the session or the socket.
  std::vector<std::byte> read_to_close() {
    for (;;) {
      std::vector<std::byte> got = raw_.read_some();
      if (got.empty()) return std::exchange(plain_, {});
      std::vector<std::byte> to_send;
      if (!session_.receive(got, plain_, to_send)) return std::exchange(plain_, {});
    }
  }
  const std::string& error() const { return session_.error(); }

 private:
  TlsContext ctx_;
  TlsSession session_;
  RawClient raw_;
  std::vector<std::byte> plain_;
};

/// A handshake a raw client writes, asking to authenticate (a nonce) but
/// unable to prove anything.
std::vector<std::byte> raw_handshake(const std::string& address) {
  const auto nonce = io::detail::fresh_nonce();  // info.nonce is a view of it
  wire::HandshakeInfo info{address, 77};
  info.nonce = nonce;
  std::vector<std::byte> out;
  wire::ControlWriter().handshake(info, out);
  return out;
}

bool has_handshake(const std::vector<std::byte>& bytes) {
  bool found = false;
  for_each_frame(bytes, [&](wire::schema::Frame::Reader f) { found = found || f.isHandshake(); });
  return found;
}

bool contains(const std::vector<std::byte>& bytes, std::string_view text) {
  std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return all.find(text) != std::string_view::npos;
}

/// Checks each Note's text against the pattern its first tag names.
struct NoteChecker : Handles<NoteChecker, Note> {
  explicit NoteChecker(std::shared_ptr<Counter> seen) : seen(std::move(seen)) {}
  static std::string text_for(std::size_t i) {
    std::string t(1000 + i * 7919 % 300000, 'x');
    for (std::size_t k = 0; k < t.size(); k += 97) t[k] = static_cast<char>('a' + (i + k) % 26);
    return t;
  }
  void on(Context&, Note& n) {
    const std::size_t i = n.tags.empty() ? 0 : std::stoul(n.tags.front());
    if (i != next)
      seen->error("note " + std::to_string(i) + " came when " + std::to_string(next) + " was due");
    next = i + 1;
    if (n.text != text_for(i)) seen->error("note " + std::to_string(i) + " arrived changed");
    seen->add();
  }
  std::size_t next = 0;
  std::shared_ptr<Counter> seen;
};

class OverTls : public TwoSystems<unsigned> {
 protected:
  NodeConfig config(const std::string& secret, bool tls) {
    NodeConfig c = logging_config();
    c.io_threads = GetParam();
    c.secret = secret;
    c.tls = tls;
    c.backoff_min = 1ms;
    c.backoff_max = 5ms;
    c.max_attempts = 3;
    return c;
  }
  std::shared_ptr<Counter> echo_on_b() {
    auto seen = std::make_shared<Counter>();
    EXPECT_TRUE(b_sys->spawn_named(Props::of<Echo>(seen), "echo"));
    return seen;
  }
};

TEST_P(OverTls, RequestsAndAnswersFlowBothWays) {
  a.emplace(*a_sys, types, config(secret_one, true));
  b.emplace(*b_sys, types, config(secret_one, true));
  expect_requests_both_ways();
  if (HasFatalFailure()) return;
  EXPECT_EQ(a->stats().auth_failures + b->stats().auth_failures, 0u);
  EXPECT_EQ(a->stats().connections_opened, 1u);
  EXPECT_EQ(b->stats().connections_opened, 1u);
}

TEST_P(OverTls, MessagesMuchLargerThanARecordArriveWholeAndInOrder) {
  a.emplace(*a_sys, types, config(secret_one, true));
  b.emplace(*b_sys, types, config(secret_one, true));
  auto seen = std::make_shared<Counter>();
  ASSERT_TRUE(b_sys->spawn_named(Props::of<NoteChecker>(seen), "notes"));
  Pid notes = a->pid(b->address(), "notes");
  constexpr std::size_t n = 300;  // 1 KB to 300 KB each: up to ~19 records apiece
  for (std::size_t i = 0; i < n; ++i) {
    a_sys->send(notes, Note{NoteChecker::text_for(i), {std::to_string(i)}});
  }
  ASSERT_TRUE(seen->wait_for(n, 60s)) << seen->get() << " of " << n << " notes arrived";
  std::lock_guard lock(seen->mu);
  EXPECT_TRUE(seen->errors.empty()) << seen->errors.front();
}

TEST_P(OverTls, TheWireCarriesTlsRecordsAndTheHandshakeAndRefusalsRunInside) {
  b.emplace(*b_sys, types, config(secret_one, true));
  TlsClient client(b->address(), secret_one);
  std::vector<std::byte> first;
  ASSERT_TRUE(client.handshake(&first)) << client.error();
  ASSERT_GE(first.size(), 2u);
  EXPECT_EQ(std::to_integer<unsigned>(first[0]), 22u) << "not a TLS handshake record";
  EXPECT_EQ(std::to_integer<unsigned>(first[1]), 3u);
  client.write(raw_handshake("127.0.0.1:9"));
  std::vector<std::byte> wire_bytes;
  std::vector<std::byte> answer = client.read_frame(&wire_bytes);
  ASSERT_TRUE(has_handshake(answer)) << "no shoal handshake inside the session";
  EXPECT_TRUE(contains(answer, b->address()));
  EXPECT_FALSE(contains(wire_bytes, b->address())) << "the handshake crossed the wire in clear";
  // A made-up proof: refused, and told so inside the session.
  std::vector<std::byte> bytes;
  wire::ControlWriter().auth(std::vector<std::byte>(32, std::byte{0x42}), bytes);
  client.write(bytes);
  std::vector<std::byte> rest = client.read_to_close();
  EXPECT_NE(disconnect_reason(rest).find("authentication failed"), std::string::npos)
      << disconnect_reason(rest);
  EXPECT_TRUE(shoal::test::eventually([&] { return b->stats().auth_failures >= 1; },
                                      "b to count the failed proof"));
  EXPECT_EQ(b->stats().connections_opened, 0u);
}

TEST_P(OverTls, AClientWithAnotherKeyFailsTheTlsHandshakeBeforeAnyFrame) {
  b.emplace(*b_sys, types, config(secret_one, true));
  for (int i = 0; i < 3; ++i) {
    TlsClient client(b->address(), secret_two);
    EXPECT_FALSE(client.handshake()) << "a TLS session with another key was established";
  }
  EXPECT_TRUE(shoal::test::eventually([&] { return b->stats().auth_failures >= 3; },
                                      "b to count three failed TLS handshakes"));
  EXPECT_TRUE(logged("TLS")) << "b logged nothing about the failed handshakes";
  EXPECT_EQ(b->stats().frames_received, 0u);
  EXPECT_EQ(b->stats().connections_opened, 0u);
  // A node with the key is still served.
  a.emplace(*a_sys, types, config(secret_one, true));
  auto seen = echo_on_b();
  auto r = a_sys->request_future<Ping>(a->pid(b->address(), "echo"), Ping{3}, 30s).result();
  ASSERT_TRUE(r.ok()) << r.what();
}

TEST_P(OverTls, APlainClientIsToldTheNodeSpeaksTlsOnly) {
  b.emplace(*b_sys, types, config(secret_one, true));
  RawClient raw(b->address());
  raw.write(raw_handshake("127.0.0.1:9"));
  auto [got, eof] = raw.read_to_eof();
  EXPECT_TRUE(eof);
  EXPECT_NE(disconnect_reason(got).find("TLS only"), std::string::npos) << disconnect_reason(got);
  EXPECT_FALSE(has_handshake(got)) << "b answered a handshake outside TLS";
  EXPECT_TRUE(logged("does not speak TLS"));
  EXPECT_EQ(b->stats().frames_received, 0u);
}

TEST_P(OverTls, ATlsDialerAndAPlainAcceptorRefuseEachOtherSayingWhy) {
  a.emplace(*a_sys, types, config(secret_one, true));
  b.emplace(*b_sys, types, config(secret_one, false));
  auto seen = echo_on_b();
  auto r = a_sys->request_future<Ping>(a->pid(b->address(), "echo"), Ping{1}, 30s).result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::delivery_failed) << r.what();
  // (Both nodes log to one list: each check names what only one says.)
  EXPECT_TRUE(logged("closed: bad frame header")) << "b did not say why";
  EXPECT_TRUE(logged("the peer speaks TLS and this node does not")) << "b did not say why";
  EXPECT_TRUE(logged("closed: the peer does not speak TLS")) << "a did not say why";
  EXPECT_EQ(seen->get(), 0u);
}

TEST_P(OverTls, APlainDialerAndATlsAcceptorRefuseEachOtherSayingWhy) {
  a.emplace(*a_sys, types, config(secret_one, false));
  b.emplace(*b_sys, types, config(secret_one, true));
  auto seen = echo_on_b();
  auto r = a_sys->request_future<Ping>(a->pid(b->address(), "echo"), Ping{1}, 30s).result();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), RequestErrc::delivery_failed) << r.what();
  // (Both nodes log to one list: each check names what only one says.)
  EXPECT_TRUE(logged("refused by the peer: this node speaks TLS only")) << "a was not told why";
  EXPECT_TRUE(logged("closed: the peer does not speak TLS")) << "b did not say why";
  EXPECT_EQ(seen->get(), 0u);
}

TEST_P(OverTls, TlsWithoutASecretIsAConfigurationError) {
  EXPECT_THROW(Node(*b_sys, types, config("", true)), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(IoThreads, OverTls, ::testing::Values(1u, 2u), io_threads_name);

}  // namespace
}  // namespace shoal::io::test
