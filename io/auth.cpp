#include "io/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

namespace shoal::io {

namespace {

[[noreturn]] void crypto_failed(const char* what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error(std::string(what) + ": " + buf);
}

void check_length(const std::string& secret, const std::string& where) {
  if (secret.size() < min_secret_bytes) {
    throw std::runtime_error("the cluster secret in " + where + " has " +
                             std::to_string(secret.size()) + " bytes; at least " +
                             std::to_string(min_secret_bytes) + " are needed");
  }
}

void append_u64(std::vector<unsigned char>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

void append_side(std::vector<unsigned char>& out, const detail::HandshakeSide& s) {
  append_u64(out, s.address.size());
  out.insert(out.end(), s.address.begin(), s.address.end());
  append_u64(out, s.incarnation);
}

}  // namespace

std::string read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("cannot read the cluster secret file " + path + ": " +
                             std::strerror(errno));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw std::runtime_error("the cluster secret file " + path +
                             " is open to group or others (chmod 600 it)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the cluster secret file " + path);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  check_length(secret, path);
  return secret;
}

std::string secret_from_environment(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr)
    throw std::runtime_error(std::string("no cluster secret: ") + name + " is not set");
  std::string secret(v);
  check_length(secret, std::string("$") + name);
  return secret;
}

namespace detail {

Nonce fresh_nonce() {
  Nonce n;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(n.data()), static_cast<int>(n.size())) != 1) {
    crypto_failed("RAND_bytes");
  }
  return n;
}

std::uint64_t random_id() {
  std::uint64_t v = 0;
  while (v == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1)
      crypto_failed("RAND_bytes");
  }
  return v;
}

Proof handshake_proof(std::string_view secret, Role role, const HandshakeSide& dialer,
                      const HandshakeSide& acceptor) {
  std::string_view label = role == Role::acceptor ? "shoal/1 acceptor" : "shoal/1 dialer";
  std::vector<unsigned char> msg(label.begin(), label.end());
  auto bytes = [&](std::span<const std::byte> b) {
    const auto* p = reinterpret_cast<const unsigned char*>(b.data());
    msg.insert(msg.end(), p, p + b.size());
  };
  bytes(dialer.nonce);
  bytes(acceptor.nonce);
  append_side(msg, dialer);
  append_side(msg, acceptor);
  Proof out;
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr ||
      len != out.size()) {
    crypto_failed("HMAC-SHA256");
  }
  return out;
}

bool proof_matches(std::span<const std::byte> received, const Proof& expected) noexcept {
  return received.size() == expected.size() &&
         CRYPTO_memcmp(received.data(), expected.data(), expected.size()) == 0;
}

}  // namespace detail
}  // namespace shoal::io
