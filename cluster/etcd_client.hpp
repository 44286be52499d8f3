// A small client for etcd v3's JSON gateway (HTTP/1.1 through libcurl,
// JSON through nlohmann): unary calls, and the watch stream. Internal to
// cluster/; EtcdProvider is its one user.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

namespace shoal::cluster::detail {

/// etcd could not be reached, or answered with an error: what() says which.
class EtcdError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string base64_encode(std::string_view bytes);
/// Throws EtcdError on input that is not base64.
std::string base64_decode(std::string_view text);
/// The range_end that selects every key starting with `prefix`.
std::string prefix_end(std::string prefix);

class EtcdClient {
 public:
  EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  /// POSTs `body` to `path` ("/v3/kv/range") on the current endpoint and
  /// returns the JSON answer; on failure tries the next endpoint once
  /// round, then throws EtcdError.
  nlohmann::json call(std::string_view path, const nlohmann::json& body);

  /// Opens a watch (`create_request`) and calls `on_message` for each
  /// message of the stream until the stream ends or fails (EtcdError),
  /// on_message returns false, or interrupt() is called (returns then).
  /// Between messages, `tick` runs about every `tick_every`; false from
  /// it ends the watch, a throw ends it with that error. So does a throw
  /// from on_message (EtcdError with its text).
  void watch(const nlohmann::json& create_request,
             const std::function<bool(const nlohmann::json&)>& on_message,
             const std::function<bool()>& tick, std::chrono::milliseconds tick_every);
  /// Makes a running or the next watch() return: at once while it waits for
  /// the stream, after the call in progress if it is inside `tick`. Any thread.
  void interrupt();

 private:
  std::string url(std::string_view path) const;
  nlohmann::json post_once(const std::string& url, const std::string& body);

  std::vector<std::string> endpoints_;
  std::size_t current_ = 0;
  std::chrono::milliseconds timeout_;
  CURL* easy_ = nullptr;    // unary calls
  CURLM* multi_ = nullptr;  // the watch
  std::atomic<bool> interrupted_{false};
};

}  // namespace shoal::cluster::detail
