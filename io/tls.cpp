#include "io/tls.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <stdexcept>

#include "io/auth.hpp"

namespace shoal::io {

namespace {

// The PSK's identity on the wire: names the derivation, not a node.
constexpr unsigned char psk_identity[] = "shoal/1 cluster psk";
constexpr std::size_t psk_identity_bytes = sizeof psk_identity - 1;
// TLS_AES_128_GCM_SHA256, the cipher the PSK is bound to (SHA-256).
constexpr unsigned char aes128gcm_sha256[] = {0x13, 0x01};

std::string openssl_error() {
  char buf[256];
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

struct TlsContext::Impl {
  SSL_CTX* client = nullptr;
  SSL_CTX* server = nullptr;
  std::array<unsigned char, 32> psk{};

  ~Impl() {
    SSL_CTX_free(client);
    SSL_CTX_free(server);
  }

  static Impl& of(SSL* ssl) {
    return *static_cast<Impl*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  }

  /// A session carrying the PSK, as TLS 1.3 external PSKs are given to
  /// OpenSSL; null if the cipher is not available.
  SSL_SESSION* psk_session(SSL* ssl) const {
    const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
    if (cipher == nullptr) return nullptr;
    SSL_SESSION* s = SSL_SESSION_new();
    if (s == nullptr || SSL_SESSION_set1_master_key(s, psk.data(), psk.size()) != 1 ||
        SSL_SESSION_set_cipher(s, cipher) != 1 ||
        SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
      SSL_SESSION_free(s);
      return nullptr;
    }
    return s;
  }

  // Client: offer the PSK (only for the hash it is bound to).
  static int use_session(SSL* ssl, const EVP_MD* md, const unsigned char** id, std::size_t* id_len,
                         SSL_SESSION** sess) {
    *sess = nullptr;
    *id = nullptr;
    *id_len = 0;
    if (md != nullptr && md != EVP_sha256()) return 1;  // another hash: not offered
    *sess = of(ssl).psk_session(ssl);
    if (*sess == nullptr) return 0;
    *id = psk_identity;
    *id_len = psk_identity_bytes;
    return 1;
  }

  // Server: the PSK for its identity; nothing for any other (the handshake
  // then fails: the server has no certificate to fall back on).
  static int find_session(SSL* ssl, const unsigned char* id, std::size_t id_len,
                          SSL_SESSION** sess) {
    *sess = nullptr;
    if (id_len != psk_identity_bytes || std::memcmp(id, psk_identity, id_len) != 0) return 1;
    *sess = of(ssl).psk_session(ssl);
    return *sess != nullptr ? 1 : 0;
  }
};

TlsContext::TlsContext(std::string_view secret) : impl_(std::make_unique<Impl>()) {
  if (secret.size() < min_secret_bytes) {
    throw std::runtime_error("a TLS context needs the cluster secret (at least " +
                             std::to_string(min_secret_bytes) + " bytes)");
  }
  // The PSK: HMAC-SHA256(secret, label), so the TLS key is not the bytes the
  // handshake proofs use.
  static constexpr char label[] = "shoal/1 tls psk";
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(label), sizeof label - 1, impl_->psk.data(),
           &len) == nullptr) {
    throw std::runtime_error("TLS: deriving the pre-shared key: " + openssl_error());
  }
  for (SSL_CTX** ctx : {&impl_->client, &impl_->server}) {
    *ctx = SSL_CTX_new(TLS_method());
    if (*ctx == nullptr || SSL_CTX_set_min_proto_version(*ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(*ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_ciphersuites(*ctx, "TLS_AES_128_GCM_SHA256") != 1) {
      throw std::runtime_error("TLS: cannot make a context: " + openssl_error());
    }
    SSL_CTX_set_app_data(*ctx, impl_.get());
  }
  SSL_CTX_set_psk_use_session_callback(impl_->client, &Impl::use_session);
  SSL_CTX_set_psk_find_session_callback(impl_->server, &Impl::find_session);
  // No resumption tickets: every connection uses the PSK afresh.
  SSL_CTX_set_num_tickets(impl_->server, 0);
}

TlsContext::~TlsContext() = default;

struct TlsSession::Ssl {
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // ciphertext from the peer (owned by ssl)
  BIO* out = nullptr;  // ciphertext for the peer (owned by ssl)
  ~Ssl() { SSL_free(ssl); }
};

TlsSession::TlsSession(const TlsContext& ctx, Role role) : ssl_(std::make_unique<Ssl>()) {
  TlsContext::Impl& impl = ctx.impl();
  ssl_->ssl = SSL_new(role == Role::client ? impl.client : impl.server);
  ssl_->in = BIO_new(BIO_s_mem());
  ssl_->out = BIO_new(BIO_s_mem());
  if (ssl_->ssl == nullptr || ssl_->in == nullptr || ssl_->out == nullptr) {
    BIO_free(ssl_->in);
    BIO_free(ssl_->out);
    throw std::runtime_error("TLS: cannot make a session: " + openssl_error());
  }
  // A drained memory BIO says "retry", not EOF: more may come.
  BIO_set_mem_eof_return(ssl_->in, -1);
  SSL_set_bio(ssl_->ssl, ssl_->in, ssl_->out);
  if (role == Role::client) {
    SSL_set_connect_state(ssl_->ssl);
  } else {
    SSL_set_accept_state(ssl_->ssl);
  }
}

TlsSession::~TlsSession() = default;

bool TlsSession::fail(const char* what) {
  error_ = std::string(what) + ": " + openssl_error();
  return false;
}

bool TlsSession::drain(std::vector<std::byte>& to_send) {
  while (std::size_t pending = BIO_ctrl_pending(ssl_->out)) {
    const std::size_t at = to_send.size();
    to_send.resize(at + pending);
    int n = BIO_read(ssl_->out, to_send.data() + at, static_cast<int>(pending));
    if (n <= 0) {
      to_send.resize(at);
      return fail("TLS: reading sealed records");
    }
    to_send.resize(at + static_cast<std::size_t>(n));
  }
  return true;
}

bool TlsSession::step(std::vector<std::byte>& to_send) {
  int r = SSL_do_handshake(ssl_->ssl);
  if (r == 1) {
    established_ = true;
    return drain(to_send);
  }
  int e = SSL_get_error(ssl_->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return drain(to_send);
  drain(to_send);  // an alert for the peer, if OpenSSL wrote one
  return fail("TLS handshake failed");
}

bool TlsSession::start(std::vector<std::byte>& to_send) { return step(to_send); }

bool TlsSession::receive(std::span<const std::byte> in, std::vector<std::byte>& plain,
                         std::vector<std::byte>& to_send) {
  if (!in.empty() &&
      BIO_write(ssl_->in, in.data(), static_cast<int>(in.size())) != static_cast<int>(in.size())) {
    return fail("TLS: buffering received bytes");
  }
  if (!established_ && !step(to_send)) return false;
  if (!established_) return true;
  for (;;) {
    const std::size_t at = plain.size();
    plain.resize(at + 16384);
    std::size_t got = 0;
    int r = SSL_read_ex(ssl_->ssl, plain.data() + at, 16384, &got);
    plain.resize(at + (r == 1 ? got : 0));
    if (r == 1) continue;
    int e = SSL_get_error(ssl_->ssl, 0);
    if (e == SSL_ERROR_WANT_READ) break;
    drain(to_send);
    if (e == SSL_ERROR_ZERO_RETURN) {
      error_ = "TLS: the peer closed the session";
      return false;
    }
    return fail("TLS: a record did not open");
  }
  return drain(to_send);
}

bool TlsSession::send(std::span<const std::byte> plain, std::vector<std::byte>& to_send) {
  if (!established_) {
    error_ = "TLS: send before the handshake is done";
    return false;
  }
  std::size_t written = 0;
  if (!plain.empty() && SSL_write_ex(ssl_->ssl, plain.data(), plain.size(), &written) != 1) {
    return fail("TLS: sealing records");
  }
  return drain(to_send);
}

}  // namespace shoal::io
