// Pid and Process: the address of an actor and the thing it points at.
//
// A Process is whatever can receive envelopes: a local actor cell, a
// request future (future.hpp), a completion queue (completion_queue.hpp), or
// a remote actor's proxy (io/remote_process.hpp). It is reference
// counted intrusively; a Pid is a counted pointer to one, so a local send is a pointer chase (no
// registry lookup) and a Pid keeps its target's memory alive — never the actor itself: a stopped
// actor's Pid is stale and sends through it become dead letters.
//
// Pids must not be used after their ActorSystem is destroyed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

#include "shoal/detail/config.hpp"

namespace shoal {

struct Envelope;

class Process {
 public:
  enum class Kind : std::uint8_t { local_actor, future, remote, queue };

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  Kind kind() const noexcept { return kind_; }
  bool is_actor() const noexcept { return kind_ == Kind::local_actor; }
  /// An actor whose statistics are recorded (stats.hpp): senders stamp
  /// its messages. Fixed before the first Pid to it exists.
  bool is_instrumented() const noexcept { return instrumented_; }

  /// Takes a message (owned), for processes that are not actors (request
  /// futures). Actor cells are reached through their mailbox
  /// (ActorSystem::deliver branches on kind()), never through this; the
  /// default frees the message.
  virtual void post(Envelope* e) noexcept;
  /// Takes the messages `first` … `last` (owned; `count` of them, linked
  /// through `next`, oldest first) from one sender's burst (the outbox,
  /// shoal/detail/outbox.hpp), for processes that are not actors. The
  /// default posts each in turn; a remote proxy queues them at once.
  virtual void post_chain(Envelope* first, Envelope* last, std::uint32_t count) noexcept;

  /// References now: exact only when the caller knows no other thread
  /// copies or drops one (io/ uses it to sweep proxies only it can copy).
  std::uint32_t use_count() const noexcept {
    return refs_.load(std::memory_order_acquire);  // acquire: pairs with release()'s release half
  }
  /// Thread-safe, wait-free.
  void add_ref() noexcept {
    // relaxed: a new reference is made from an existing one, which already
    // keeps the object alive; nothing is published (as std::shared_ptr).
    refs_.fetch_add(1, std::memory_order_relaxed);
  }
  /// add_ref() `n` times, in one step. Thread-safe, wait-free.
  void add_refs(std::uint32_t n) noexcept {
    refs_.fetch_add(n, std::memory_order_relaxed);  // relaxed: as add_ref()
  }
  /// Thread-safe; destroys the process when the last reference goes.
  void release() noexcept {
    // acq_rel: release publishes this owner's writes; the acquire half makes
    // the last owner see every other owner's before it deletes (pairs with
    // the release of every other fetch_sub).
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 protected:
  /// `refs` references exist at birth, owned by whoever adopts them
  /// (Pid::adopt); a plain store, before any other thread can see the object.
  Process(std::uint64_t id, Kind kind, std::uint32_t refs = 0) noexcept
      : id_(id), refs_(refs), kind_(kind) {}
  virtual ~Process() = default;
  /// Marks an instrumented actor. Before any Pid to this process exists.
  void set_instrumented() noexcept { instrumented_ = true; }

 private:
  std::uint64_t id_;
  std::atomic<std::uint32_t> refs_{0};
  Kind kind_;
  bool instrumented_ = false;
};

/// Address of an actor. Copying costs one atomic increment. Empty by default.
///
/// The pointer's low bits mark a process that is not a local actor (a
/// request future) and an instrumented actor (whose messages the sender
/// stamps), so a send decides how to deliver from the Pid alone, without
/// reading the target: for an actor, that line holds its queue's head,
/// which every sender is about to write (a read first would fetch it
/// shared, then again exclusive).
class Pid {
 public:
  Pid() noexcept = default;
  /// Takes a new reference to `p` (which may be null).
  explicit Pid(Process* p) noexcept : bits_(tagged(p)) {
    if (p != nullptr) p->add_ref();
  }
  /// Takes over a reference the caller already counted (see Process's
  /// constructor): no atomic operation.
  static Pid adopt(Process* p) noexcept {
    Pid pid;
    pid.bits_ = tagged(p);
    return pid;
  }
  Pid(const Pid& o) noexcept : bits_(o.bits_) {
    if (bits_ != 0) process()->add_ref();
  }
  Pid(Pid&& o) noexcept : bits_(std::exchange(o.bits_, 0)) {}
  Pid& operator=(Pid o) noexcept {
    std::swap(bits_, o.bits_);
    return *this;
  }
  ~Pid() {
    if (bits_ != 0) process()->release();
  }

  bool empty() const noexcept { return bits_ == 0; }
  explicit operator bool() const noexcept { return bits_ != 0; }
  /// 0 for an empty Pid.
  std::uint64_t id() const noexcept { return bits_ != 0 ? process()->id() : 0; }
  /// Borrowed pointer to the target process (null if empty).
  Process* process() const noexcept { return reinterpret_cast<Process*>(bits_ & ~tag_bits); }
  /// True if the target is a local actor (not a future); reads only the Pid.
  bool is_actor() const noexcept { return bits_ != 0 && (bits_ & not_actor) == 0; }
  /// True if the target is a local actor that is not instrumented: the
  /// plain send path. Reads only the Pid; false for an empty Pid.
  bool is_plain_actor() const noexcept { return bits_ != 0 && (bits_ & tag_bits) == 0; }
  /// True if the target is an instrumented actor. Reads only the Pid.
  bool is_instrumented() const noexcept { return (bits_ & instrumented) != 0; }

  void reset() noexcept { Pid().swap(*this); }
  void swap(Pid& o) noexcept { std::swap(bits_, o.bits_); }

  /// The same process. A local actor has one process for its life; a
  /// remote actor has one proxy per node and reference (io/ interns them).
  friend bool operator==(const Pid& a, const Pid& b) noexcept { return a.process() == b.process(); }

 private:
  static constexpr std::uintptr_t not_actor = 1;
  static constexpr std::uintptr_t instrumented = 2;
  static constexpr std::uintptr_t tag_bits = not_actor | instrumented;
  static std::uintptr_t tagged(Process* p) noexcept {
    static_assert(alignof(Process) > tag_bits, "the tags live in a Process pointer's low bits");
    if (p == nullptr) return 0;
    return reinterpret_cast<std::uintptr_t>(p) | (p->is_actor() ? 0 : not_actor) |
           (p->is_instrumented() ? instrumented : 0);
  }

  std::uintptr_t bits_ = 0;  // Process* | not_actor | instrumented
};

}  // namespace shoal

template <>
struct std::hash<shoal::Pid> {
  std::size_t operator()(const shoal::Pid& p) const noexcept {
    return std::hash<std::uint64_t>{}(p.id());
  }
};
