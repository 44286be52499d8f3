#include "cluster/etcd_client.hpp"

#include <openssl/evp.h>

#include <mutex>

namespace shoal::cluster::detail {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

void check(CURLcode c, const char* what) {
  if (c != CURLE_OK)
    throw EtcdError(std::string("etcd client: ") + what + ": " + curl_easy_strerror(c));
}

/// A JSON answer, or an EtcdError naming etcd's own error text.
nlohmann::json parse_answer(const std::string& url, long status, const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    throw EtcdError("etcd at " + url + " answered HTTP " + std::to_string(status) +
                    " with what is not JSON: " + body.substr(0, 200));
  }
  if (!j.is_object()) {
    throw EtcdError("etcd at " + url + " answered HTTP " + std::to_string(status) +
                    " with JSON that is not an object: " + body.substr(0, 200));
  }
  if (status != 200 || j.contains("error")) {
    std::string msg = j.contains("message") && j["message"].is_string()
                          ? j["message"].get<std::string>()
                          : (j.contains("error") ? j["error"].dump() : body.substr(0, 200));
    throw EtcdError("etcd at " + url + " answered HTTP " + std::to_string(status) + ": " + msg);
  }
  return j;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) throw EtcdError("etcd client: base64 of a bad length from etcd");
  std::string out(3 * (text.size() / 4) + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) throw EtcdError("etcd client: bad base64 from etcd");
  // EVP_DecodeBlock counts the padding's zero bytes too.
  std::size_t len = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --len;
  out.resize(len);
  return out;
}

std::string prefix_end(std::string prefix) {
  // The key after every key with this prefix: its last byte below 0xff
  // plus one, what follows dropped.
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {
  if (endpoints_.empty()) throw std::invalid_argument("shoal: etcd needs at least one endpoint");
  for (std::string& e : endpoints_) {
    while (!e.empty() && e.back() == '/') e.pop_back();
  }
  global_init();
  easy_ = curl_easy_init();
  multi_ = curl_multi_init();
  if (easy_ == nullptr || multi_ == nullptr)
    throw std::runtime_error("shoal: curl could not start");
}

EtcdClient::~EtcdClient() {
  curl_multi_cleanup(multi_);
  curl_easy_cleanup(easy_);
}

std::string EtcdClient::url(std::string_view path) const {
  return endpoints_[current_] + std::string(path);
}

nlohmann::json EtcdClient::post_once(const std::string& url, const std::string& body) {
  std::string answer;
  curl_easy_reset(easy_);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  struct Free {
    curl_slist* h;
    ~Free() { curl_slist_free_all(h); }
  } free_headers{headers};
  check(curl_easy_setopt(easy_, CURLOPT_URL, url.c_str()), "url");
  check(curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L), "nosignal");  // threads: no SIGALRM
  // etcd is the cluster's own service: never through an http_proxy the
  // environment names.
  check(curl_easy_setopt(easy_, CURLOPT_NOPROXY, "*"), "noproxy");
  check(curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers), "headers");
  check(curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.c_str()), "body");
  check(curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size())), "size");
  check(curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count())),
        "timeout");
  check(curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &append), "write");
  check(curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &answer), "write");
  const CURLcode c = curl_easy_perform(easy_);
  if (c != CURLE_OK) throw EtcdError("etcd at " + url + ": " + curl_easy_strerror(c));
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  return parse_answer(url, status, answer);
}

nlohmann::json EtcdClient::call(std::string_view path, const nlohmann::json& body) {
  const std::string text = body.dump();
  std::string errors;
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const std::string u = url(path);
    try {
      return post_once(u, text);
    } catch (const EtcdError& e) {
      errors += errors.empty() ? e.what() : std::string("; ") + e.what();
      current_ = (current_ + 1) % endpoints_.size();
    }
  }
  throw EtcdError(errors);
}

namespace {

/// The watch's stream: messages, one JSON object per line.
struct WatchSink {
  std::string pending;
  const std::function<bool(const nlohmann::json&)>* on_message;
  std::string error;  // set when the stream cannot go on
  bool stop = false;

  static std::size_t write(char* data, std::size_t size, std::size_t n, void* self) {
    auto* s = static_cast<WatchSink*>(self);
    // Nothing may be thrown through curl (C): whatever goes wrong here ends
    // the watch as an error.
    try {
      s->take(data, size * n);
    } catch (const std::exception& e) {
      s->fail(e.what());
    } catch (...) {
      s->fail("an unknown exception");
    }
    // Returning less than given makes curl end the transfer.
    return s->stop ? 0 : size * n;
  }

  void fail(const char* what) noexcept {
    stop = true;
    try {
      error = std::string("etcd watch: ") + what;
    } catch (...) {
      error = "watch failed";  // fits in the string itself: no allocation
    }
  }

  void take(const char* data, std::size_t bytes) {
    pending.append(data, bytes);
    for (std::size_t nl; !stop && (nl = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        error = "etcd watch: a message that is not a JSON object: " + line.substr(0, 200);
        stop = true;
      } else if (j.contains("error")) {
        error = "etcd watch: " + j["error"].dump();
        stop = true;
      } else if (!(*on_message)(j.contains("result") ? j["result"] : j)) {
        stop = true;
      }
    }
  }
};

}  // namespace

void EtcdClient::watch(const nlohmann::json& create_request,
                       const std::function<bool(const nlohmann::json&)>& on_message,
                       const std::function<bool()>& tick, std::chrono::milliseconds tick_every) {
  using clock = std::chrono::steady_clock;
  if (interrupted_.exchange(false)) return;
  const std::string u = url("/v3/watch");
  const std::string body = nlohmann::json{{"create_request", create_request}}.dump();
  WatchSink sink{.pending = {}, .on_message = &on_message, .error = {}, .stop = false};
  CURL* h = curl_easy_init();
  if (h == nullptr) throw EtcdError("etcd watch: curl could not start");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  struct Cleanup {
    CURLM* m;
    CURL* h;
    curl_slist* headers;
    bool added = false;
    ~Cleanup() {
      if (added) curl_multi_remove_handle(m, h);
      curl_easy_cleanup(h);
      curl_slist_free_all(headers);
    }
  } cleanup{multi_, h, headers};
  check(curl_easy_setopt(h, CURLOPT_URL, u.c_str()), "url");
  check(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L), "nosignal");
  check(curl_easy_setopt(h, CURLOPT_NOPROXY, "*"), "noproxy");
  check(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers), "headers");
  check(curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str()), "body");
  check(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size())), "size");
  check(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count())),
        "timeout");
  check(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WatchSink::write), "write");
  check(curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink), "write");
  if (curl_multi_add_handle(multi_, h) != CURLM_OK) throw EtcdError("etcd watch: curl multi");
  cleanup.added = true;
  auto next_tick = clock::now() + tick_every;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(multi_, &running) != CURLM_OK) throw EtcdError("etcd watch: curl multi");
    if (!sink.error.empty()) throw EtcdError(sink.error);
    if (sink.stop) return;
    if (running == 0) {
      int left = 0;
      CURLcode result = CURLE_OK;
      while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg == CURLMSG_DONE) result = m->data.result;
      }
      long status = 0;
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
      if (result != CURLE_OK)
        throw EtcdError("etcd watch at " + u + ": " + curl_easy_strerror(result));
      throw EtcdError("etcd watch at " + u + ": the stream ended (HTTP " + std::to_string(status) +
                      ")");
    }
    if (interrupted_.exchange(false)) return;
    const auto now = clock::now();
    if (now >= next_tick) {
      if (!tick()) return;
      next_tick = now + tick_every;
      continue;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now);
    if (curl_multi_poll(multi_, nullptr, 0, static_cast<int>(wait.count()) + 1, nullptr) !=
        CURLM_OK) {
      throw EtcdError("etcd watch: curl_multi_poll failed");
    }
  }
}

void EtcdClient::interrupt() {
  interrupted_.store(true);
  curl_multi_wakeup(multi_);
}

}  // namespace shoal::cluster::detail
