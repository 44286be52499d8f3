// Membership through etcd v3: each member puts a key under
// /shoal/<cluster>/members/ bound to a lease it keeps alive, reads the
// prefix at revision R and watches it from R + 1. The revision of the last
// change seen is the view's epoch.
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "shoal/cluster/membership.hpp"
#include "shoal/log.hpp"
#include "cluster/etcd_client.hpp"

namespace shoal::cluster {

namespace {

using detail::EtcdClient;
using detail::EtcdError;
using nlohmann::json;

std::uint64_t as_u64(const json& j, const char* key) {
  // The gateway writes 64-bit integers as strings and leaves zeros out.
  if (!j.contains(key)) return 0;
  const json& v = j[key];
  if (v.is_string()) return std::stoull(v.get<std::string>());
  if (v.is_number_unsigned() || v.is_number_integer()) return v.get<std::uint64_t>();
  throw EtcdError(std::string("etcd: field ") + key + " is neither number nor string");
}

json member_value(const Member& m) {
  return json{
      {"address", m.address}, {"incarnation", std::to_string(m.incarnation)}, {"kinds", m.kinds}};
}

/// The member a key's value describes; nullopt (logged) for a value no
/// shoal member wrote: one bad key must not make the cluster unreadable.
std::optional<Member> parse_member(const std::string& key, const std::string& value) {
  json j = json::parse(value, nullptr, false);
  try {
    if (!j.is_discarded() && j.is_object() && j.contains("address") && j["address"].is_string()) {
      Member m;
      m.address = j["address"].get<std::string>();
      m.incarnation = std::stoull(j.value("incarnation", std::string("0")));
      m.kinds = j.value("kinds", std::vector<std::string>{});
      return m;
    }
  } catch (const std::exception&) {  // a field of the wrong type or range
  }
  log(LogLevel::warning, "cluster",
      "etcd key " + key + " does not hold a shoal member; ignored: " + value.substr(0, 200));
  return std::nullopt;
}

class EtcdProvider final : public MemberProvider {
 public:
  explicit EtcdProvider(EtcdConfig config)
      : config_(std::move(config)),
        prefix_("/shoal/" + config_.cluster + "/members/"),
        client_(config_.endpoints, config_.request_timeout) {
    if (config_.lease_ttl < std::chrono::seconds(2)) {
      throw std::invalid_argument("shoal: an etcd lease of less than 2 s cannot be kept alive");
    }
    if (config_.request_timeout * 3 > config_.lease_ttl) {
      // A keep-alive goes every third of the TTL; one slow call must not
      // outlast the lease (that would expel the member for good).
      throw std::invalid_argument(
          "shoal: EtcdConfig::request_timeout must be at most a third of lease_ttl");
    }
    if (config_.cluster.empty() || config_.cluster.find('/') != std::string::npos) {
      throw std::invalid_argument("shoal: an etcd cluster name must be non-empty, without '/'");
    }
  }
  ~EtcdProvider() override { stop(); }

  void start(const Member& self, MemberListener& listener) override {
    self_ = self;
    key_ = prefix_ + self.id();
    listener_ = &listener;
    listener_->on_status(MembershipState::joining, "connecting to etcd");
    thread_ = std::thread([this] { run(); });
  }

  void stop() override {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    client_.interrupt();
    // From a listener's callback (this thread): it ends once the callback
    // returns; the destructor joins it and leaves.
    if (std::this_thread::get_id() == thread_.get_id()) return;
    thread_.join();
    // A clean leave: revoking the lease deletes the key at once (else it
    // goes when the lease runs out). Best effort.
    if (lease_ != 0 && !expelled_) {
      try {
        client_.call("/v3/lease/revoke", json{{"ID", std::to_string(lease_)}});
      } catch (const EtcdError& e) {
        log(LogLevel::warning, "cluster", std::string("leaving: ") + e.what());
      }
    }
  }

 private:
  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  void run() {
    auto backoff = config_.retry_min;
    bool reported_error = false;
    while (!stopping()) {
      try {
        follow();
        return;  // stopped, or expelled
      } catch (const std::exception& e) {
        if (stopping()) return;
        if (std::exchange(reached_up_, false)) {
          // It worked for a while: a new outage, told anew, retried soon.
          reported_error = false;
          backoff = config_.retry_min;
        }
        // Said once per outage; the last view stays.
        if (!reported_error) {
          try {
            listener_->on_status(MembershipState::unreachable, e.what());
          } catch (...) {  // a listener's failure must not end this thread
          }
        }
        reported_error = true;
        std::unique_lock lock(mu_);
        wake_.wait_for(lock, backoff, [&] { return stopping_; });
        backoff = std::min(backoff * 2, config_.retry_max);
      }
    }
  }

  /// Registers (or renews), reads the members and follows the watch until
  /// it fails (throws) or stop / expulsion (returns).
  void follow() {
    if (lease_ != 0 && !keep_alive()) {
      // The lease ran out while etcd was away or slow. Registered under it:
      // this member is gone (its id stays gone). Not yet: a new lease.
      if (registered_) {
        expel("its lease ran out (silent longer than the TTL)");
        return;
      }
      lease_ = 0;
    }
    if (lease_ == 0) {
      json g = client_.call("/v3/lease/grant", json{{"TTL", config_.lease_ttl.count()}});
      lease_ = as_u64(g, "ID");
      if (lease_ == 0) throw EtcdError("etcd granted no lease: " + g.dump());
    }
    if (!registered_) {
      // Created only if absent: one registration per id, ever (a key left
      // by a stale writer, or a second process claiming this incarnation,
      // is not taken over).
      json t = client_.call(
          "/v3/kv/txn",
          json{
              {"compare", json::array({json{{"key", detail::base64_encode(key_)},
                                            {"target", "CREATE"},
                                            {"create_revision", "0"}}})},
              {"success",
               json::array({json{{"request_put",
                                  json{{"key", detail::base64_encode(key_)},
                                       {"value", detail::base64_encode(member_value(self_).dump())},
                                       {"lease", std::to_string(lease_)}}}}})},
              // Taken: read whose it is (a retried call whose first try
              // went through finds its own lease there).
              {"failure", json::array({json{
                              {"request_range", json{{"key", detail::base64_encode(key_)}}}}})}});
      if (!t.value("succeeded", false) && holder_lease(t) != lease_) {
        expel("another registration holds its key " + key_);
        return;
      }
      registered_ = true;
    }
    json r = client_.call("/v3/kv/range",
                          json{{"key", detail::base64_encode(prefix_)},
                               {"range_end", detail::base64_encode(detail::prefix_end(prefix_))}});
    members_.clear();
    if (r.contains("kvs")) {
      for (const json& kv : r["kvs"]) {
        if (!put(kv)) {
          expel("another registration took its key " + key_);
          return;
        }
      }
    }
    std::uint64_t revision = as_u64(r.at("header"), "revision");
    if (members_.find(self_.id()) == members_.end()) {
      // Our key is gone although the lease lived a moment ago: expired
      // between the two calls.
      expel("this member's key is not in etcd");
      return;
    }
    listener_->on_status(MembershipState::up, "registered in etcd as " + key_);
    deliver(revision);
    reached_up_ = true;

    const auto keep_every =
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.lease_ttl) / 3;
    client_.watch(
        json{{"key", detail::base64_encode(prefix_)},
             {"range_end", detail::base64_encode(detail::prefix_end(prefix_))},
             {"start_revision", std::to_string(revision + 1)}},
        [&](const json& m) {
          if (m.value("canceled", false)) {
            throw EtcdError("etcd canceled the watch: " + m.value("cancel_reason", m.dump()));
          }
          if (as_u64(m, "compact_revision") != 0)
            throw EtcdError("etcd compacted the watched revisions");
          if (!m.contains("events")) return true;  // created, or progress
          bool self_gone = false;
          for (const json& ev : m["events"]) {
            const json& kv = ev.at("kv");
            if (ev.value("type", std::string("PUT")) == "DELETE") {
              const std::string id =
                  detail::base64_decode(kv["key"].get<std::string>()).substr(prefix_.size());
              members_.erase(id);
              self_gone |= id == self_.id();
            } else if (!put(kv)) {
              self_gone = true;
            }
          }
          deliver(as_u64(m.at("header"), "revision"));
          if (self_gone) {
            expel("this member's key was deleted from etcd");
            return false;
          }
          return true;
        },
        [&] {
          if (keep_alive()) return true;
          expel("its lease ran out (silent longer than the TTL)");
          return false;
        },
        keep_every);
    // Returned: stopped or expelled. (A failure throws.)
  }

  /// Renews the lease; false if it has run out. Throws if etcd cannot say.
  bool keep_alive() {
    json k = client_.call("/v3/lease/keepalive", json{{"ID", std::to_string(lease_)}});
    const json& res = k.contains("result") ? k["result"] : k;
    return as_u64(res, "TTL") != 0;
  }

  void expel(const std::string& why) {
    expelled_ = true;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;  // a member that is gone stays gone
    }
    listener_->on_status(MembershipState::expelled, "expelled from etcd: " + why);
  }

  /// The lease of the key a failed txn's range read (0 if none).
  static std::uint64_t holder_lease(const json& t) {
    if (!t.contains("responses") || !t["responses"].is_array() || t["responses"].empty()) return 0;
    const json& r = t["responses"][0];
    if (!r.contains("response_range")) return 0;
    const json& range = r["response_range"];
    if (!range.contains("kvs") || range["kvs"].empty()) return 0;
    return as_u64(range["kvs"][0], "lease");
  }

  /// Takes a key into the view; false if it is this member's key under
  /// another lease (someone took it over: this member is gone).
  bool put(const json& kv) {
    const std::string key = detail::base64_decode(kv["key"].get<std::string>());
    if (key.compare(0, prefix_.size(), prefix_) != 0) return true;
    const std::string id = key.substr(prefix_.size());
    const std::uint64_t lease = as_u64(kv, "lease");
    if (id == self_.id() && lease != lease_) return false;
    // A member is alive only while its lease is: a key without one (left by
    // hand, or by a writer that is no member) would never go.
    if (lease == 0) {
      members_.erase(id);
      return true;
    }
    std::optional<Member> m =
        parse_member(key, detail::base64_decode(kv.value("value", std::string())));
    if (m && m->id() == id) {
      members_[id] = std::move(*m);
    } else {
      members_.erase(id);
      if (m) {
        log(LogLevel::warning, "cluster", "etcd key " + key + " names another member; ignored");
      }
    }
    return true;
  }

  void deliver(std::uint64_t revision) {
    Topology view{.epoch = revision, .members = {}};
    view.members.reserve(members_.size());
    for (auto& [id, m] : members_) view.members.push_back(m);
    listener_->on_view(std::move(view));
  }

  const EtcdConfig config_;
  const std::string prefix_;
  EtcdClient client_;
  Member self_;
  std::string key_;
  MemberListener* listener_ = nullptr;
  std::uint64_t lease_ = 0;  // the provider's thread (then stop(), after the join)
  bool expelled_ = false;
  bool registered_ = false;                // our key was created under lease_
  bool reached_up_ = false;                // follow() got as far as a view since the last failure
  std::map<std::string, Member> members_;  // by id
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<MemberProvider> etcd_provider(EtcdConfig config) {
  return std::make_unique<EtcdProvider>(std::move(config));
}

}  // namespace shoal::cluster
