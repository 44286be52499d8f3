#include "shoal/node.hpp"
#include "core/detail/system_access.hpp"

#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "io/detail/node_impl.hpp"
#include "shoal/log.hpp"

namespace shoal::io {

// -- Node --

Node::Node(ActorSystem& system, const wire::TypeRegistry& types, NodeConfig config)
    : impl_(std::make_unique<detail::NodeImpl>(system, types, std::move(config))) {}
Node::~Node() = default;
const std::string& Node::address() const noexcept { return impl_->address(); }
std::uint64_t Node::incarnation() const noexcept { return impl_->incarnation(); }
Pid Node::pid(std::string_view address, std::string_view name) { return impl_->pid(address, name); }
NodeStats Node::stats() const noexcept { return impl_->stats(); }
Future<ActorIdentity> Node::identify(std::string_view address, std::string_view name,
                                     std::chrono::nanoseconds timeout) {
  ActorSystem& system = impl_->system;
  if (address == impl_->address()) {
    // This node: answered here, as the remote node would (a local actor
    // would take the Identify as an unhandled message).
    Pid local = system.lookup(name);
    if (local.empty())
      return system.request_future<ActorIdentity>(Pid(), wire::Identify{}, timeout);
    auto* core = new shoal::detail::FutureCore(system);
    Future<ActorIdentity> f(core);
    core->post(make_envelope(ActorIdentity{local.id()}));
    return f;
  }
  return system.request_future<ActorIdentity>(pid(address, name), wire::Identify{}, timeout);
}

namespace detail {

namespace {

bool connected_to_itself(int fd) {
  sockaddr_storage here{}, there{};
  socklen_t hl = sizeof here, tl = sizeof there;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&here), &hl) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&there), &tl) != 0) {
    return false;
  }
  return hl == tl && std::memcmp(&here, &there, hl) == 0;
}

}  // namespace

// -- the node (shared) --

NodeImpl::NodeImpl(ActorSystem& system_, const wire::TypeRegistry& types_, NodeConfig config_)
    : system(system_),
      types(types_),
      config(std::move(config_)),
      incarnation_(detail::random_id()) {
  if (config.io_threads == 0) throw std::invalid_argument("NodeConfig::io_threads must be ≥ 1");
  if (!config.secret.empty() && config.secret.size() < min_secret_bytes) {
    throw std::invalid_argument("NodeConfig::secret has " + std::to_string(config.secret.size()) +
                                " bytes; at least " + std::to_string(min_secret_bytes) +
                                " are needed");
  }
  if (config.tls) {
    if (config.secret.empty()) {
      throw std::invalid_argument(
          "NodeConfig::tls needs NodeConfig::secret (its key is derived from it)");
    }
    tls_ = std::make_unique<TlsContext>(config.secret);
  }
  if (config.max_connections == 0 || config.max_half_open == 0) {
    throw std::invalid_argument("NodeConfig::max_connections and max_half_open must be ≥ 1");
  }
  handshake_limits_ = config.limits;
  handshake_limits_.max_frame_bytes =
      std::min(config.limits.max_frame_bytes, config.handshake_frame_bytes);
  SocketAddress bound;
  listen_fd_ = listen_on(resolve(config.listen), 128, bound);
  address_ = config.advertise.empty() ? bound.text : config.advertise;
  try {
    for (unsigned i = 0; i < config.io_threads; ++i) {
      bool accepts = i + 1 == config.io_threads;
      loops_.push_back(std::make_unique<IoLoop>(*this, i, accepts ? listen_fd_ : -1));
    }
    for (auto& l : loops_) l->start();
  } catch (...) {
    for (auto& l : loops_) l->stop_and_join();
    loops_.clear();
    ::close(listen_fd_);
    throw;
  }
}

std::unique_ptr<TlsSession> NodeImpl::tls_session(TlsSession::Role role) const {
  if (!tls_) return nullptr;
  return std::make_unique<TlsSession>(*tls_, role);
}

NodeImpl::~NodeImpl() {
  std::vector<std::shared_ptr<Endpoint>> all;
  {
    std::lock_guard lock(endpoints_mu_);
    closing_ = true;  // endpoints made from now on are born closed
    for (auto& [address, ep] : endpoints_) all.push_back(ep);
  }
  for (auto& ep : all) ep->close();  // no producer inside enqueue() from here on
  all.clear();
  // Each loop says goodbye on its connections and drops its endpoints'
  // queues; the accepting loop closes the listening socket.
  for (auto& l : loops_) l->stop_and_join();
  loops_.clear();  // hand-overs nobody took close their sockets
  std::lock_guard lock(endpoints_mu_);
  endpoints_.clear();
}

Pid NodeImpl::pid(std::string_view address, std::string_view name) {
  if (address == address_) return system.lookup(name);
  return endpoint_for(address)->proxy(0, name);
}

std::shared_ptr<Endpoint> NodeImpl::endpoint_for(std::string_view address) {
  std::lock_guard lock(endpoints_mu_);
  auto it = endpoints_.find(std::string(address));
  if (it != endpoints_.end()) return it->second;
  IoLoop& home = *loops_[next_home_++ % loops_.size()];
  auto e = std::make_shared<Endpoint>(*this, home, system, std::string(address),
                                      config.outbound_queue_bytes);
  if (closing_) e->close();
  endpoints_.emplace(std::string(address), e);
  return e;
}

std::size_t NodeImpl::evict_idle(IoLoop& loop) {
  std::vector<std::shared_ptr<Endpoint>> gone;  // destroyed outside the lock
  {
    std::lock_guard lock(endpoints_mu_);
    if (closing_) return 0;
    for (auto it = endpoints_.begin(); it != endpoints_.end();) {
      Endpoint& e = *it->second;
      // References: the map's, the loop's active_ list (if listed there).
      // Anything more (a proxy a user holds, a connection's claim, a lookup
      // out, a producer between endpoint_for() and its send) keeps it. No
      // one can take a new one meanwhile: endpoint_for() needs this lock.
      // Another loop's endpoint: its io state is that thread's to read.
      if (&e.home() != &loop) {
        ++it;
        continue;
      }
      const long expected = 1 + (e.active ? 1 : 0);
      // (The proxy tables hold references too: forgotten first.)
      if (!loop.idle_here(e) || !e.forget_unused_proxies() || it->second.use_count() > expected) {
        ++it;
        continue;
      }
      // What the last other holder (a producer's proxy, let go after its
      // send) did to the endpoint first (queued, listed it) shows in the
      // re-check below.
      // acquire: pairs with the acq_rel decrement in that proxy's shared_ptr release.
      std::atomic_thread_fence(std::memory_order_acquire);
      if (!loop.idle_here(e)) {
        ++it;
        continue;
      }
      gone.push_back(std::move(it->second));
      it = endpoints_.erase(it);
    }
    // Under the lock: stats() sees the count and the endpoints agree.
    bump(stats_.endpoints_evicted, gone.size());
  }
  for (auto& e : gone) loop.forget(*e);
  return gone.size();
}

std::vector<std::shared_ptr<Endpoint>> NodeImpl::endpoints() const {
  std::lock_guard lock(endpoints_mu_);
  std::vector<std::shared_ptr<Endpoint>> all;
  all.reserve(endpoints_.size());
  for (auto& [address, ep] : endpoints_) all.push_back(ep);
  return all;
}

Pid NodeImpl::find_export(std::uint64_t id, const IoLoop* except) const {
  for (const auto& l : loops_) {
    if (l.get() == except) continue;
    if (Pid p = l->exported(id); !p.empty()) return p;
  }
  return {};
}

NodeStats NodeImpl::stats() const noexcept {
  auto get = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);  // relaxed: statistics
  };
  NodeStats s;
  s.messages_sent = get(stats_.messages_sent);
  s.messages_received = get(stats_.messages_received);
  s.frames_sent = get(stats_.frames_sent);
  s.frames_received = get(stats_.frames_received);
  s.bytes_sent = get(stats_.bytes_sent);
  s.bytes_received = get(stats_.bytes_received);
  s.dropped_outbound_full = get(stats_.dropped_outbound_full);
  s.dropped_connection_lost = get(stats_.dropped_connection_lost);
  s.dropped_not_serializable = get(stats_.dropped_not_serializable);
  s.rejected_inbound = get(stats_.rejected_inbound);
  s.sequence_gaps = get(stats_.sequence_gaps);
  s.duplicates_dropped = get(stats_.duplicates_dropped);
  s.connections_opened = get(stats_.connections_opened);
  s.connections_closed = get(stats_.connections_closed);
  s.protocol_errors = get(stats_.protocol_errors);
  s.heartbeats_sent = get(stats_.heartbeats_sent);
  s.futures_failed = get(stats_.futures_failed);
  s.handovers = get(stats_.handovers);
  s.dropped_too_large = get(stats_.dropped_too_large);
  s.connections_refused = get(stats_.connections_refused);
  s.auth_failures = get(stats_.auth_failures);
  s.endpoints_evicted = get(stats_.endpoints_evicted);
  s.untrusted_refused = get(stats_.untrusted_refused);
  std::lock_guard lock(endpoints_mu_);
  s.endpoints = endpoints_.size();
  for (const auto& [address, ep] : endpoints_) s.queued_bytes += ep->queued_bytes();
  return s;
}

void NodeImpl::report(std::string_view what) {
  if (!config.on_error) {
    log(LogLevel::warning, "node " + address_, what);
    return;
  }
  std::string line = "shoal node " + address_ + ": " + std::string(what);
  std::lock_guard lock(report_mu_);
  config.on_error(line);
}

// -- an io thread: life --

IoLoop::IoLoop(NodeImpl& node, unsigned index, int listen_fd)
    : node_(node),
      system_(node.system),
      types_(node.types),
      config_(node.config),
      stats_(node.stats_),
      address_(node.address()),
      incarnation_(node.incarnation()),
      index_(index),
      listen_fd_(listen_fd),
      guest_(system_, "io " + std::to_string(index)),
      writer_(config_.limits),
      decoder_(types_, config_.limits) {}

IoLoop::~IoLoop() { stop_and_join(); }

IoLoop::Handover::~Handover() {
  if (fd < 0) return;
  ::close(fd);
  if (node != nullptr) {
    // relaxed: a bound; pairs with nothing (the accept's relaxed loads read it).
    node->half_open_now.fetch_sub(1, std::memory_order_relaxed);
    // relaxed: a bound; pairs with nothing (the accept's relaxed loads read it).
    node->connections_now.fetch_sub(1, std::memory_order_relaxed);
  }
}

void IoLoop::start() {
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, &started] { loop(&started); });
  try {
    ready.get();  // rethrows the io thread's start-up error (no io_uring, ...)
  } catch (...) {
    thread_.join();
    throw;
  }
}

void IoLoop::stop_and_join() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_seq_cst);
  port_->wake();  // made before start() returned; lives until the thread ends
  thread_.join();
}

bool IoLoop::home_of(const Endpoint& e) const noexcept { return &e.home() == this; }

void IoLoop::schedule(Endpoint& e) noexcept {
  // acq_rel: acquire pairs with the release exchange in take_ready that
  // cleared the flag (the io thread's read of ready_next is done before our
  // store to it below); release pairs with that exchange's acquire when it
  // reads our `true` (what we queued before this call is visible to the
  // flush that follows it). Already listed: the io thread will flush it.
  // acq_rel: pairs with the acq_rel exchange(false) in take_ready.
  if (e.listed.exchange(true, std::memory_order_acq_rel)) return;
  Endpoint* head = ready_.load(std::memory_order_relaxed);  // relaxed: the CAS validates it
  do {
    e.ready_next.store(head, std::memory_order_relaxed);  // relaxed: published by the CAS
    // release: pairs with the acquire exchange in take_ready (ready_next
    // and the endpoint's queue state become visible to the io thread).
  } while (!ready_.compare_exchange_weak(head, &e, std::memory_order_release,
                                         std::memory_order_relaxed));
  nudge();
}

void IoLoop::hand_over(Handover h) {
  {
    std::lock_guard lock(handovers_mu_);
    handovers_.push_back(std::move(h));
  }
  // seq_cst: this side's store of the sleep protocol's store→load pair
  // (the io thread re-reads it after setting sleeping_; see nudge()).
  handovers_waiting_.store(true, std::memory_order_seq_cst);
  nudge();
}

void IoLoop::nudge() noexcept {
  // seq_cst fence: the work made visible above before the read of
  // sleeping_ (the sleep protocol's store→load pair; the io thread's side
  // is in loop()).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // relaxed load: the fence orders it; acq_rel exchange: one producer wins.
  if (sleeping_.load(std::memory_order_relaxed) &&
      sleeping_.exchange(false, std::memory_order_acq_rel)) {
    port_->wake();
  }
}

bool IoLoop::idle_here(const Endpoint& e) const noexcept {
  // relaxed: a hint; a producer that lists it after this read holds a
  // reference (it got the endpoint from a proxy), which the caller counts.
  return e.state == Endpoint::State::idle && e.connection == nullptr && !e.resolving &&
         e.pending_futures.empty() && e.watches.empty() && e.queued_bytes() == 0 &&
         !e.listed.load(std::memory_order_relaxed);
}

void IoLoop::forget(const Endpoint& e) {
  std::erase_if(active_, [&](const std::shared_ptr<Endpoint>& p) { return p.get() == &e; });
}

Pid IoLoop::exported(std::uint64_t id) const {
  std::lock_guard lock(exports_mu_);
  auto it = exports_.find(id);
  return it == exports_.end() ? Pid() : it->second.pid;
}

// -- the loop --

void IoLoop::loop(std::promise<void>* started) {
  try {
    const PortConfig pc{256, config_.receive_buffers, config_.receive_buffer_bytes};
    bool uring = config_.event_port == EventPortKind::io_uring;
    if (config_.event_port == EventPortKind::automatic) {
      std::string why = uring_unavailable_reason();
      uring = why.empty();
      if (!uring && index_ == 0) report("io_uring unavailable (" + why + "): using epoll");
    }
    port_ = uring ? make_uring_port(pc) : make_epoll_port(pc);
  } catch (...) {
    started->set_exception(std::current_exception());
    return;
  }
  if (listen_fd_ >= 0) {
    port_->accept(listen_fd_, token(0, op_accept));
    accepting_ = true;
  }
  started->set_value();

  const std::function<void(const Completion&)> handler = [this](const Completion& c) {
    on_completion(c);
  };
  Clock::time_point idle_since = Clock::now();
  // acquire: pairs with stop_and_join()'s store.
  while (!stopping_.load(std::memory_order_acquire)) {
    graveyard_.clear();
    // While the system records, this thread's frames, sends and guest runs
    // go to its guest lane (core/flight_recorder.hpp).
    shoal::detail::active_trace = guest_.trace();
    bool busy = take_ready();
    busy |= take_handovers();
    busy |= take_resolutions();
    busy |= run_port(std::chrono::nanoseconds::zero(), handler);
    Clock::time_point now = Clock::now();
    run_timers(now);
    if (busy) {
      idle_since = now;
      continue;
    }
    if (now - idle_since < config_.spin) {
      // Yield, not pause: the thread this one waits for (a worker about to
      // send, on a machine with more busy threads than cores) may need this
      // core; with nothing else runnable it returns at once.
      sched_yield();
      continue;
    }
    // Sleep. seq_cst store, then the fence's loads of ready_,
    // handovers_waiting_ and resolutions_waiting_: the io thread's side of
    // the store→load pair in nudge().
    sleeping_.store(true, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // relaxed loads: this fence orders them after the store of sleeping_;
    // they pair with the producers' fence in nudge() (their push, then
    // their read of sleeping_). acquire on stopping_: as above.
    if (ready_.load(std::memory_order_relaxed) == nullptr &&
        !handovers_waiting_.load(std::memory_order_relaxed) &&
        !resolutions_waiting_.load(std::memory_order_relaxed) &&
        !stopping_.load(std::memory_order_acquire)) {
      run_port(next_timer(now), handler);
    }
    sleeping_.store(false, std::memory_order_relaxed);  // relaxed: only an optimisation for producers
    idle_since = Clock::now();
  }
  shoal::detail::active_trace = nullptr;
  shutdown_io();
}

bool IoLoop::run_port(std::chrono::nanoseconds timeout,
                      const std::function<void(const Completion&)>& handler) {
  // The actors this batch of completions wakes run here if every worker
  // sleeps (shoal/guest_runner.hpp): their answers then go out on this
  // thread's next turn, with no wake-up on either side.
  if (config_.run_actors) guest_.collect();
  const bool any = port_->run(timeout, handler) > 0;
  if (guest_.kept() != 0) {
    // Awake now: a guest-run handler's remote send must not write the
    // port's wake-up for this very thread (sleeping_ is still set when the
    // sleep branch called this). relaxed: only an optimisation for
    // producers; the loop takes ready_ before it sleeps again.
    sleeping_.store(false, std::memory_order_relaxed);
  }
  guest_.run();  // also ends the collecting
  return any;
}

bool IoLoop::take_ready() {
  // acquire: pairs with the release CAS in schedule().
  Endpoint* e = ready_.exchange(nullptr, std::memory_order_acquire);
  if (e == nullptr) return false;
  while (e != nullptr) {
    // Read the link first: once the flag is clear, a producer may list the
    // endpoint again and overwrite it.
    Endpoint* next = e->ready_next.load(std::memory_order_relaxed);  // relaxed: after the acquire
    // acq_rel: release pairs with the acquire exchange in schedule() (our
    // read of ready_next comes before a new lister's store); acquire pairs
    // with the release of a producer that found it listed and left it to
    // this flush.
    e->listed.exchange(false, std::memory_order_acq_rel);
    flush(*e);
    e = next;
  }
  return true;
}

bool IoLoop::take_handovers() {
  // relaxed: a hint; the mutex orders the hand-overs themselves.
  if (!handovers_waiting_.load(std::memory_order_relaxed)) return false;
  std::vector<Handover> taken;
  {
    std::lock_guard lock(handovers_mu_);
    // relaxed: cleared under the lock that the poster sets it after
    // pushing under; a later post sets it again.
    handovers_waiting_.store(false, std::memory_order_relaxed);
    taken.swap(handovers_);
  }
  for (Handover& h : taken) {
    Connection* c = adopt(std::exchange(h.fd, -1), false, nullptr, /*counted=*/true);
    c->peer = h.peer;
    c->hello = h.hello;
    c->tls = std::move(h.tls);
    c->half_open = true;       // counted by the loop that accepted it
    c->deadline = h.deadline;  // one connect_timeout from the accept, wherever it lives
    c->receiving = true;
    port_->receive(c->fd, token(c->serial, op_receive));
    accept_handshake(*c, h.endpoint);
  }
  return !taken.empty();
}

void IoLoop::on_completion(const Completion& c) {
  // The loop's top refreshes this too; here, so that the first frame after
  // a sleep that start_trace() ended is recorded as well.
  shoal::detail::active_trace = guest_.trace();
  std::uint64_t serial = c.token >> 2;
  auto op = static_cast<Op>(c.token & 3);
  if (op == op_accept) {
    // relaxed loads: bounds; only this thread accepts.
    if (c.result >= 0 &&
        (node_.connections_now.load(std::memory_order_relaxed) >= config_.max_connections ||
         node_.half_open_now.load(std::memory_order_relaxed) >= config_.max_half_open)) {
      ::close(c.result);  // no buffer, no state: refused before a byte is read
      bump(stats_.connections_refused);
    } else if (c.result >= 0) {
      if (!set_nodelay(c.result)) report("TCP_NODELAY on an accepted socket failed");
      Connection* conn = adopt(c.result, false, nullptr);
      conn->tls = node_.tls_session(TlsSession::Role::server);
      conn->half_open = true;
      // relaxed: a bound; pairs with nothing (the accept's relaxed loads read it).
      node_.half_open_now.fetch_add(1, std::memory_order_relaxed);
      conn->deadline = Clock::now() + config_.connect_timeout;
      conn->receiving = true;
      port_->receive(conn->fd, token(conn->serial, op_receive));
    } else if (c.result != -ECANCELED) {
      report(std::string("accept: ") + std::strerror(-c.result));
    }
    if (!c.more) {
      accepting_ = false;
      if (!stopping_.load(std::memory_order_relaxed)) {  // relaxed: re-checked by the loop
        port_->accept(listen_fd_, token(0, op_accept));
        accepting_ = true;
      }
    }
    return;
  }
  auto it = connections_.find(serial);
  if (it == connections_.end()) {
    port_->release(c.buffer);
    return;
  }
  Connection& conn = *it->second;
  switch (op) {
    case op_receive:
      on_receive(conn, c);
      break;
    case op_send:
      if (c.result < 0) {
        conn.sending = false;
        close_connection(conn, std::string("send: ") + std::strerror(-c.result), false);
        maybe_free(conn);
        break;
      }
      bump(stats_.bytes_sent, static_cast<std::uint64_t>(c.result));
      if (const std::size_t carried = conn.sent(static_cast<std::size_t>(c.result));
          conn.booked != 0 && carried != 0) {
        // Clamped: `booked` counts only user frames, not handshakes,
        // heartbeats and other control frames that share the flights.
        const std::size_t give = std::min(conn.booked, carried);
        conn.booked -= give;
        if (conn.endpoint) conn.endpoint->unbook(give);
      }
      if (conn.sending) {
        port_->send(conn.fd, conn.rest_of_flight(), token(conn.serial, op_send));
        break;
      }
      if (conn.close_when_sent) {
        if (!conn.has_sendable()) {
          conn.close_when_sent = false;
          ::shutdown(conn.fd, SHUT_RDWR);
        } else {
          // A refusal came while this send was in flight: its Disconnect
          // is in `out` and goes now; the socket closes after it.
          start_send(conn);
          break;
        }
      }
      if (conn.state == Connection::State::closing) {
        maybe_free(conn);
      } else if (Endpoint* ep = conn.endpoint.get();
                 ep != nullptr && ep->backlogged && ep->connection == &conn) {
        flush(*ep);  // encodes the next window and sends it
      } else {
        start_send(conn);
      }
      break;
    case op_connect:
      conn.connect_pending = false;
      if (conn.state == Connection::State::closing) {
        maybe_free(conn);
      } else if (c.result < 0) {
        close_connection(conn, std::string("connect to ") + conn.peer + ": " +
                                   std::strerror(-c.result), false);
        maybe_free(conn);
      } else if (connected_to_itself(conn.fd)) {
        // TCP self-connect: dialing a port in the ephemeral range with no
        // listener can bind the same port as the source.
        close_connection(conn, "connect to " + conn.peer + ": connected to itself", false);
        maybe_free(conn);
      } else {
        conn.state = Connection::State::handshaking;
        conn.last_heard = Clock::now();
        conn.receiving = true;
        port_->receive(conn.fd, token(conn.serial, op_receive));
        conn.receive_limits = node_.handshake_limits();
        // With TLS the handshake frame waits in `out` until the session is
        // established; the ClientHello goes first.
        conn.tls = node_.tls_session(TlsSession::Role::client);
        if (conn.tls && !conn.tls->start(conn.tls_out)) {
          close_connection(conn, "TLS: " + conn.tls->error(), false);
          maybe_free(conn);
          break;
        }
        write_handshake(conn, conn.endpoint.get());
        start_send(conn);
      }
      break;
    case op_accept:
      break;
  }
}

Connection* IoLoop::adopt(int fd, bool dialed, std::shared_ptr<Endpoint> endpoint, bool counted) {
  std::uint64_t serial = next_serial_++;
  auto c = std::make_unique<Connection>(serial, fd, dialed);
  c->endpoint = std::move(endpoint);
  c->peer = c->endpoint ? c->endpoint->address() : "(accepted)";
  c->last_heard = c->last_sent = Clock::now();
  c->receive_limits = node_.handshake_limits();
  Connection* raw = c.get();
  connections_.emplace(serial, std::move(c));
  raw->counted = true;
  // relaxed: a bound, pairs with nothing. A hand-over's connection was
  // counted where it was accepted.
  if (!counted) node_.connections_now.fetch_add(1, std::memory_order_relaxed);
  return raw;
}

void IoLoop::close_connection(Connection& c, std::string_view why, bool protocol_error) {
  if (c.state == Connection::State::closing) return;
  bool was_open = c.state == Connection::State::open;
  c.state = Connection::State::closing;
  end_half_open(c);
  unbook_all(c);
  bump(stats_.connections_closed);
  if (protocol_error) bump(stats_.protocol_errors);
  // Not when this node, or the peer, shuts down in order: counted only.
  // relaxed: pairs with stop()'s seq_cst store; a stale `false` costs one line.
  const bool stopping = stopping_.load(std::memory_order_relaxed);
  if (protocol_error || (was_open && !c.peer_said_goodbye && !stopping)) {
    report("connection to " + c.peer + " closed: " + std::string(why));
  }
  // Ends the receive (EOF) and a send in flight; cancel ends a connect.
  // A refusal's Disconnect frame is still going out: only the receive
  // ends now; the send's completion shuts the rest.
  ::shutdown(c.fd, c.close_when_sent ? SHUT_RD : SHUT_RDWR);
  if (c.connect_pending) port_->cancel(token(c.serial, op_connect));
  // User messages encoded but not handed to the kernel are lost; the
  // receiver's sequence numbers will show them too.
  std::uint64_t lost = c.out_messages + (c.sending ? c.flight_messages : 0);
  c.out_messages = c.flight_messages = 0;
  if (lost > 0) {
    bump(stats_.dropped_connection_lost, lost);
    DeadLetter d{0, "(encoded, unsent)", DeadLetterReason::connection_lost};
    for (std::uint64_t i = 0; i < lost; ++i) {
      system_.dead_letters().publish(d);
      system_.events().publish(d);
    }
  }
  std::shared_ptr<Endpoint> ep = c.endpoint;
  if (ep && ep->connection == &c) {
    ep->connection = nullptr;
    if (was_open) {
      const std::uint64_t incarnation = ep->peer_incarnation;
      association_lost(*ep);
      if (system_.events().active()) {
        system_.events().publish(PeerDisconnected{ep->address(), incarnation, std::string(why)});
      }
    } else if (c.rejected_duplicate) {
      // The peer keeps its own dial to us: wait for it to arrive.
      ep->state = Endpoint::State::connecting;
      ep->waiting_until = Clock::now() + config_.connect_timeout;
    } else {
      connect_failed(*ep);
    }
  }
}

void IoLoop::refuse(Connection& c, std::string_view why) {
  control_.disconnect(why, c.out);
  close_after_sending(c, why);
}

void IoLoop::close_after_sending(Connection& c, std::string_view why) {
  if (c.has_sendable()) {
    c.close_when_sent = true;
    start_send(c);
  }
  // Counted and reported as closed now; the socket goes once what is due
  // is out (on_completion) or the send fails.
  std::string reason(why);
  close_connection(c, reason, true);
}

void IoLoop::maybe_free(Connection& c) {
  if (c.state != Connection::State::closing || c.sending || c.receiving || c.connect_pending) {
    return;
  }
  auto it = connections_.find(c.serial);
  if (it == connections_.end()) return;
  uncount(c);
  graveyard_.push_back(std::move(it->second));  // freed at the top of the next round
  connections_.erase(it);
}

void IoLoop::uncount(Connection& c) noexcept {
  if (!c.counted) return;
  c.counted = false;
  // relaxed: a bound; pairs with nothing (the accept's relaxed loads read it).
  node_.connections_now.fetch_sub(1, std::memory_order_relaxed);
}

void IoLoop::end_half_open(Connection& c) noexcept {
  if (!c.half_open) return;
  c.half_open = false;
  // relaxed: a bound; pairs with nothing (the accept's relaxed loads read it).
  node_.half_open_now.fetch_sub(1, std::memory_order_relaxed);
}

void IoLoop::unbook_all(Connection& c) noexcept {
  if (c.booked != 0 && c.endpoint) c.endpoint->unbook(c.booked);
  c.booked = 0;
}

// -- timers --

void IoLoop::run_timers(Clock::time_point now) {
  if (now >= next_eviction_) {
    next_eviction_ = now + std::chrono::seconds(1);
    node_.evict_idle(*this);
  }
  for (auto& ep : active_) {
    if (ep->state == Endpoint::State::backing_off && now >= ep->next_attempt) {
      start_connect(*ep);
    } else if (ep->state == Endpoint::State::connecting && ep->connection == nullptr &&
               now >= ep->waiting_until) {
      connect_failed(*ep);  // the peer's dial never came
    }
  }
  for (auto& [serial, cp] : connections_) {
    Connection& c = *cp;
    if (c.state != Connection::State::closing && c.buffered() != 0 &&
        now - c.partial_since() >= config_.frame_timeout) {
      refuse(c, "a frame took longer than the frame timeout to arrive (" +
                    std::to_string(c.buffered()) + " bytes of it came)");
      continue;
    }
    switch (c.state) {
      case Connection::State::connecting:
      case Connection::State::handshaking:
        if (now >= c.deadline) close_connection(c, "no handshake in time", false);
        break;
      case Connection::State::open:
        if (now - c.last_heard >= config_.heartbeat_timeout) {
          close_connection(c, "peer silent (no frame for the heartbeat timeout)", false);
        } else if (now - c.last_sent >= config_.heartbeat_interval && !c.sending) {
          control_.heartbeat(++heartbeat_nonce_, false, c.out);
          bump(stats_.heartbeats_sent);
          start_send(c);
        }
        break;
      case Connection::State::closing:
        break;
    }
  }
}

std::chrono::nanoseconds IoLoop::next_timer(Clock::time_point now) const {
  // Every deadline run_timers() acts on, so an idle io thread sleeps until
  // the first (heartbeats every 500 ms by default), not on a fixed tick;
  // the second is only a backstop.
  Clock::time_point next = now + std::chrono::seconds(1);
  for (const auto& ep : active_) {
    if (ep->state == Endpoint::State::backing_off) next = std::min(next, ep->next_attempt);
    if (ep->state == Endpoint::State::connecting && ep->connection == nullptr) {
      next = std::min(next, ep->waiting_until);
    }
  }
  for (const auto& [serial, c] : connections_) {
    if (c->state == Connection::State::open) {
      // A heartbeat waits for a send in flight; its completion is a
      // loop turn of its own, so that deadline counts only when idle
      // (else a send stuck behind a full socket would wake this every
      // 50 us until the peer is declared silent).
      if (!c->sending) next = std::min(next, c->last_sent + config_.heartbeat_interval);
      next = std::min(next, c->last_heard + config_.heartbeat_timeout);
    } else if (c->state != Connection::State::closing) {
      next = std::min(next, c->deadline);
    }
    if (c->state != Connection::State::closing && c->buffered() != 0) {
      next = std::min(next, c->partial_since() + config_.frame_timeout);
    }
  }
  return std::max<std::chrono::nanoseconds>(next - now, std::chrono::microseconds(50));
}

// -- shutdown (io thread) --

void IoLoop::shutdown_io() {
  // ~NodeImpl closed every endpoint before stopping the loops: no
  // producer is inside enqueue() from here on. A lookup still out posts
  // nothing from now on (and never touches this loop again).
  {
    std::lock_guard lock(resolutions_->mu);
    resolutions_->closed = true;
    resolutions_->done.clear();
  }
  // Say goodbye on every open connection and give the frames a moment.
  for (auto& [serial, c] : connections_) {
    if (c->state == Connection::State::open) {
      control_.disconnect(goodbye_reason, c->out);
      start_send(*c);
    }
  }
  const std::function<void(const Completion&)> handler = [this](const Completion& c) {
    on_completion(c);
  };
  auto until = Clock::now() + std::chrono::milliseconds(200);
  auto sending = [&] {
    for (auto& [serial, c] : connections_) {
      if (c->sending) return true;
    }
    return false;
  };
  while (sending() && Clock::now() < until) port_->run(std::chrono::milliseconds(10), handler);
  for (auto& [serial, c] : connections_) close_connection(*c, goodbye_reason, false);
  for (auto& ep : node_.endpoints()) {
    if (!home_of(*ep)) continue;
    if (ep->state != Endpoint::State::idle || ep->connection != nullptr) {
      association_lost(*ep);
    }
    drop_queued(*ep);
  }
  holds_.clear();
  last_export_ = {};
  {
    std::lock_guard lock(exports_mu_);
    exports_.clear();
  }
  if (listen_fd_ >= 0) {
    // The armed accept holds the listening socket open (and its port
    // bound) past close(): end it first, so a new node can listen there
    // at once.
    port_->cancel(token(0, op_accept));
    until = Clock::now() + std::chrono::milliseconds(200);
    while (accepting_ && Clock::now() < until) port_->run(std::chrono::milliseconds(10), handler);
    ::close(listen_fd_);
  }
  // Let the closed connections' operations end, then free them.
  until = Clock::now() + std::chrono::milliseconds(200);
  while (!connections_.empty() && Clock::now() < until) {
    port_->run(std::chrono::milliseconds(10), handler);
    graveyard_.clear();
  }
  graveyard_.clear();
  for (auto& [serial, c] : connections_) {
    end_half_open(*c);
    uncount(*c);
  }
  connections_.clear();
  active_.clear();  // port_ stays: stop_and_join() may still wake it
}

}  // namespace detail
}  // namespace shoal::io
