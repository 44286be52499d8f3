// The key-value store's actors and messages (kv_server.cpp runs them).
//
// The keys are split over a few Store actors (shards) by hash: each owns its
// part of the map outright, so no lock guards it, and the shards run in
// parallel on the system's workers. A request names the connection and the
// request number its answer is for; the answer quotes them back, so the
// server's I/O thread can put it on the right connection in the right
// place without remembering anything per request.
#pragma once

#include <shoal/shoal.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

namespace kv {

enum class Op : std::uint8_t { get, set, del };

/// One GET, SET or DEL for the shard that owns `key`.
struct Request {
  std::uint64_t conn = 0;  ///< the connection that asked
  std::uint64_t seq = 0;   ///< its number on that connection
  Op op = Op::get;
  std::string key;
  std::string value;  ///< SET only
};

/// The answer to a Request: one response line (without its '\n').
struct Reply {
  std::uint64_t conn = 0;
  std::uint64_t seq = 0;
  std::string line;
};

/// How many keys a shard holds (COUNT asks every shard).
struct KeyCount {
  std::size_t keys = 0;
};
struct CountKeys {
  using reply_type = KeyCount;
};

/// One shard of the map.
struct Store : shoal::Handles<Store, Request, CountKeys> {
  void on(shoal::Context& ctx, Request& r) {
    std::string line;
    switch (r.op) {
      case Op::get: {
        auto it = data.find(r.key);
        line = it == data.end() ? "NOT_FOUND" : "VALUE " + it->second;
        break;
      }
      case Op::set:
        data.insert_or_assign(std::move(r.key), std::move(r.value));
        line = "OK";
        break;
      case Op::del:
        line = data.erase(r.key) != 0 ? "DELETED" : "NOT_FOUND";
        break;
    }
    // To the request's sender: the server's CompletionQueue.
    ctx.respond(Reply{r.conn, r.seq, std::move(line)});
  }
  void on(shoal::Context& ctx, CountKeys&) { ctx.respond(KeyCount{data.size()}); }

  std::unordered_map<std::string, std::string> data;
};

}  // namespace kv
