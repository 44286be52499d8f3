#include "io/tls.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
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

// -- the session's BIO --
//
// OpenSSL reads the peer's bytes straight from the span receive() was
// given and writes sealed records straight onto the vector the caller
// passed: no memory BIO between, which would copy once more each way and
// zero its whole buffer on every reset.

struct TlsSession::Ssl {
  SSL* ssl = nullptr;
  std::span<const std::byte> in;          ///< received, not yet read by OpenSSL
  std::vector<std::byte>* out = nullptr;  ///< where records go during a call
  ~Ssl() { SSL_free(ssl); }
};

namespace {

TlsSession::Ssl& pipe_of(BIO* b) { return *static_cast<TlsSession::Ssl*>(BIO_get_data(b)); }

int pipe_write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
  auto& p = pipe_of(b);
  if (p.out == nullptr) return 0;  // outside a call: never (start, receive, send set it)
  try {
    const auto* first = reinterpret_cast<const std::byte*>(data);
    p.out->insert(p.out->end(), first, first + len);
  } catch (const std::bad_alloc&) {
    return 0;  // not through OpenSSL's C frames
  }
  *written = len;
  return 1;
}

int pipe_read(BIO* b, char* data, std::size_t len, std::size_t* read) {
  auto& p = pipe_of(b);
  BIO_clear_retry_flags(b);
  if (p.in.empty()) {
    BIO_set_retry_read(b);  // more may come: "retry", not EOF
    return 0;
  }
  const std::size_t n = std::min(len, p.in.size());
  std::memcpy(data, p.in.data(), n);
  p.in = p.in.subspan(n);
  *read = n;
  return 1;
}

long pipe_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered here
}

int pipe_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* pipe_method() {
  static BIO_METHOD* const m = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "shoal pipe");
    if (made == nullptr || BIO_meth_set_write_ex(made, pipe_write) != 1 ||
        BIO_meth_set_read_ex(made, pipe_read) != 1 || BIO_meth_set_ctrl(made, pipe_ctrl) != 1 ||
        BIO_meth_set_create(made, pipe_create) != 1) {
      throw std::runtime_error("TLS: cannot make the session BIO method: " + openssl_error());
    }
    return made;
  }();
  return m;
}

/// Points the session's BIO at `out` for the length of one call.
class Writing {
 public:
  Writing(TlsSession::Ssl& s, std::vector<std::byte>& out) : s_(s) { s_.out = &out; }
  ~Writing() { s_.out = nullptr; }
  Writing(const Writing&) = delete;
  Writing& operator=(const Writing&) = delete;

 private:
  TlsSession::Ssl& s_;
};

}  // namespace

TlsSession::TlsSession(const TlsContext& ctx, Role role)
    : ssl_(std::make_unique<Ssl>()), scratch_(new std::byte[scratch_bytes]) {
  TlsContext::Impl& impl = ctx.impl();
  ssl_->ssl = SSL_new(role == Role::client ? impl.client : impl.server);
  BIO* bio = BIO_new(pipe_method());
  if (ssl_->ssl == nullptr || bio == nullptr) {
    BIO_free(bio);
    throw std::runtime_error("TLS: cannot make a session: " + openssl_error());
  }
  BIO_set_data(bio, ssl_.get());
  SSL_set_bio(ssl_->ssl, bio, bio);  // one BIO both ways: the SSL owns its one reference
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

bool TlsSession::step() {
  int r = SSL_do_handshake(ssl_->ssl);
  if (r == 1) {
    established_ = true;
    return true;
  }
  int e = SSL_get_error(ssl_->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
  return fail("TLS handshake failed");  // an alert for the peer may be in to_send
}

bool TlsSession::start(std::vector<std::byte>& to_send) {
  Writing w(*ssl_, to_send);
  return step();
}

bool TlsSession::receive(std::span<const std::byte> in, std::vector<std::byte>& plain,
                         std::vector<std::byte>& to_send) {
  Writing w(*ssl_, to_send);
  ssl_->in = in;
  // Whatever happens, nothing of `in` is kept past this call: OpenSSL
  // reads until the BIO says "retry" and holds a partial record itself.
  struct Forget {
    Ssl& s;
    ~Forget() { s.in = {}; }
  } forget{*ssl_};
  if (!established_ && !step()) return false;
  if (!established_) return true;
  for (;;) {
    // Into the scratch buffer, then appended: a record is at most 16 KiB,
    // and resizing `plain` by that much first would zero-fill it on every
    // call (most records on a busy link are a few hundred bytes).
    std::size_t got = 0;
    int r = SSL_read_ex(ssl_->ssl, scratch_.get(), scratch_bytes, &got);
    if (r == 1) {
      plain.insert(plain.end(), scratch_.get(), scratch_.get() + got);
      continue;
    }
    int e = SSL_get_error(ssl_->ssl, 0);
    if (e == SSL_ERROR_WANT_READ) return true;
    if (e == SSL_ERROR_ZERO_RETURN) {
      error_ = "TLS: the peer closed the session";
      return false;
    }
    return fail("TLS: a record did not open");
  }
}

bool TlsSession::send(std::span<const std::byte> plain, std::vector<std::byte>& to_send) {
  if (!established_) {
    error_ = "TLS: send before the handshake is done";
    return false;
  }
  Writing w(*ssl_, to_send);
  std::size_t written = 0;
  if (!plain.empty() && SSL_write_ex(ssl_->ssl, plain.data(), plain.size(), &written) != 1) {
    return fail("TLS: sealing records");
  }
  return true;
}

}  // namespace shoal::io
