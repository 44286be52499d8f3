// Membership through etcd v3: each member puts a key under
// /shoal/<cluster>/members/ bound to a lease it keeps alive, reads the
// prefix at revision R and watches it from R + 1. The revision of the last
// change seen is the view's epoch.
#include <condition_variable>
#include <map>
#include <mutex>
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

Member parse_member(const std::string& value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("address")) {
    throw EtcdError("etcd: a member key whose value is not a shoal member: " +
                    value.substr(0, 200));
  }
  Member m;
  m.address = j["address"].get<std::string>();
  m.incarnation = std::stoull(j.value("incarnation", std::string("0")));
  m.kinds = j.value("kinds", std::vector<std::string>{});
  return m;
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
        if (!reported_error) listener_->on_status(MembershipState::unreachable, e.what());
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
    if (lease_ == 0) {
      json g = client_.call("/v3/lease/grant", json{{"TTL", config_.lease_ttl.count()}});
      lease_ = as_u64(g, "ID");
      if (lease_ == 0) throw EtcdError("etcd granted no lease: " + g.dump());
      client_.call("/v3/kv/put", json{{"key", detail::base64_encode(key_)},
                                      {"value", detail::base64_encode(member_value(self_).dump())},
                                      {"lease", std::to_string(lease_)}});
    } else if (!keep_alive()) {
      return;
    }
    json r = client_.call("/v3/kv/range",
                          json{{"key", detail::base64_encode(prefix_)},
                               {"range_end", detail::base64_encode(detail::prefix_end(prefix_))}});
    members_.clear();
    if (r.contains("kvs")) {
      for (const json& kv : r["kvs"]) put(kv);
    }
    std::uint64_t revision = as_u64(r["header"], "revision");
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
            const json& kv = ev["kv"];
            if (ev.value("type", std::string("PUT")) == "DELETE") {
              const std::string id =
                  detail::base64_decode(kv["key"].get<std::string>()).substr(prefix_.size());
              members_.erase(id);
              self_gone |= id == self_.id();
            } else {
              put(kv);
            }
          }
          deliver(as_u64(m["header"], "revision"));
          if (self_gone) {
            expel("this member's key was deleted from etcd");
            return false;
          }
          return true;
        },
        [&] { return keep_alive(); }, keep_every);
    // Returned: stopped or expelled. (A failure throws.)
  }

  /// Renews the lease; false (and told) if it has run out.
  bool keep_alive() {
    json k = client_.call("/v3/lease/keepalive", json{{"ID", std::to_string(lease_)}});
    const json& res = k.contains("result") ? k["result"] : k;
    if (as_u64(res, "TTL") == 0) {
      expel("its lease ran out (silent longer than the TTL)");
      return false;
    }
    return true;
  }

  void expel(const std::string& why) {
    expelled_ = true;
    listener_->on_status(MembershipState::expelled, "expelled from etcd: " + why);
    std::lock_guard lock(mu_);
    stopping_ = true;  // a member that is gone stays gone
  }

  void put(const json& kv) {
    const std::string key = detail::base64_decode(kv["key"].get<std::string>());
    if (key.compare(0, prefix_.size(), prefix_) != 0) return;
    Member m = parse_member(detail::base64_decode(kv.value("value", std::string())));
    members_[key.substr(prefix_.size())] = std::move(m);
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
