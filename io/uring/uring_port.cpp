// EventPort over io_uring. The only file that includes <liburing.h>.
//
// Set-up, in order of preference (DESIGN.md: without one of the first two,
// completions arrive by inter-processor interrupt, ~30 µs here):
//   SINGLE_ISSUER | DEFER_TASKRUN   completions run only when this thread
//                                   enters the kernel to reap (kernel 6.1)
//   COOP_TASKRUN | TASKRUN_FLAG     no IPI; task work at the next transition
//   none                            (the port still works)
// With SINGLE_ISSUER the ring belongs to the thread that created it: make
// the port on the io thread that will use it.
//
// Receives use a provided-buffer ring (kernel 5.19) and multishot receive
// (6.0); accept is multishot (5.19). These are probed at construction, and
// a missing one is an error that names it.
//
// Waking: an eventfd with a read always armed in the ring; wake() writes
// to it, which completes the read and ends the wait. That completion is
// the port's own (token wake_token) and re-arms itself.
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "io/event_port.hpp"
#include "io/socket.hpp"

namespace shoal::io {

namespace {

constexpr std::uint64_t wake_token = ~std::uint64_t{0};
constexpr std::uint64_t cancel_token = ~std::uint64_t{0} - 1;
constexpr int buffer_group = 0;

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error("shoal io_uring: " + what + ": " + std::strerror(err));
}

class UringPort final : public EventPort {
 public:
  explicit UringPort(const PortConfig& config);
  ~UringPort() override;

  void accept(int listen_fd, std::uint64_t token) override {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_multishot_accept(s, listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, token);
  }
  void receive(int fd, std::uint64_t token) override {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = buffer_group;
    io_uring_sqe_set_data64(s, token);
  }
  void connect(int fd, const sockaddr_storage& addr, socklen_t len, std::uint64_t token) override {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_connect(s, fd, reinterpret_cast<const sockaddr*>(&addr), len);
    io_uring_sqe_set_data64(s, token);
    // The kernel copies the address when it takes the entry: submit now so
    // `addr` need not outlive this call.
    io_uring_submit(&ring_);
  }
  void send(int fd, std::span<const std::byte> bytes, std::uint64_t token) override {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_send(s, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, token);
  }
  void cancel(std::uint64_t token) override {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_cancel64(s, token, 0);
    io_uring_sqe_set_data64(s, cancel_token);  // its own completion is ignored
  }
  void release(std::int32_t buffer) noexcept override {
    if (buffer < 0 || static_cast<unsigned>(buffer) >= buffer_count_) return;
    io_uring_buf_ring_add(buffer_ring_, buffer_at(static_cast<unsigned>(buffer)),
                          static_cast<unsigned>(buffer_bytes_), static_cast<unsigned short>(buffer),
                          io_uring_buf_ring_mask(buffer_count_), 0);
    io_uring_buf_ring_advance(buffer_ring_, 1);
  }

  std::size_t run(std::chrono::nanoseconds timeout,
                  const std::function<void(const Completion&)>& on_each) override;
  void wake() noexcept override { signal_eventfd(wake_fd_); }

 private:
  io_uring_sqe* next_sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {  // submission queue full: hand it to the kernel first
      io_uring_submit(&ring_);
      s = io_uring_get_sqe(&ring_);
      if (s == nullptr) fail("no submission queue entry after submit", EBUSY);
    }
    return s;
  }
  void arm_wake() {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_read(s, wake_fd_, &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(s, wake_token);
  }
  void cleanup() noexcept;
  char* buffer_at(unsigned i) const noexcept { return buffers_ + std::size_t{i} * buffer_bytes_; }

  io_uring ring_{};
  bool ring_ready_ = false;
  int wake_fd_ = -1;
  std::uint64_t wake_value_ = 0;
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::size_t buffer_ring_bytes_ = 0;
  char* buffers_ = nullptr;
  unsigned buffer_count_ = 0;
  std::size_t buffer_bytes_ = 0;
};

UringPort::UringPort(const PortConfig& config)
    : buffer_count_(config.receive_buffers), buffer_bytes_(config.buffer_bytes) {
  if (buffer_count_ == 0 || (buffer_count_ & (buffer_count_ - 1)) != 0 || buffer_count_ > 32768) {
    throw std::invalid_argument("shoal io_uring: receive_buffers must be a power of two ≤ 32768");
  }
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(config.entries, &ring_, &p);
  if (rc == -EINVAL) {
    p = {};
    p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    rc = io_uring_queue_init_params(config.entries, &ring_, &p);
  }
  if (rc == -EINVAL) {
    p = {};
    rc = io_uring_queue_init_params(config.entries, &ring_, &p);
  }
  if (rc < 0) fail("cannot create a ring (io_uring_setup)", -rc);
  ring_ready_ = true;

  try {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) fail("cannot probe the ring's opcodes", ENOSYS);
    const std::pair<int, const char*> needed[] = {{IORING_OP_ACCEPT, "accept"},
                                                  {IORING_OP_RECV, "recv"},
                                                  {IORING_OP_SEND, "send"},
                                                  {IORING_OP_CONNECT, "connect"},
                                                  {IORING_OP_READ, "read"}};
    for (auto [op, name] : needed) {
      if (!io_uring_opcode_supported(probe, op)) {
        io_uring_free_probe(probe);
        fail(std::string("the kernel lacks the ") + name + " opcode", ENOSYS);
      }
    }
    io_uring_free_probe(probe);

    // The provided-buffer ring: one page-aligned array of ring entries, and
    // the buffers themselves (page-aligned too, so each is 8-byte aligned
    // and frames in it can be read in place).
    buffer_ring_bytes_ = buffer_count_ * sizeof(io_uring_buf);
    void* ring_mem = ::mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE,
                            MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_mem == MAP_FAILED) fail("cannot map the buffer ring", errno);
    buffer_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_mem);
    reg.ring_entries = buffer_count_;
    reg.bgid = buffer_group;
    rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) fail("the kernel lacks provided-buffer rings (needs 5.19)", -rc);
    void* mem = ::mmap(nullptr, buffer_count_ * buffer_bytes_, PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) fail("cannot map the receive buffers", errno);
    buffers_ = static_cast<char*>(mem);
    io_uring_buf_ring_init(buffer_ring_);
    for (unsigned i = 0; i < buffer_count_; ++i) {
      io_uring_buf_ring_add(buffer_ring_, buffer_at(i), static_cast<unsigned>(buffer_bytes_),
                            static_cast<unsigned short>(i), io_uring_buf_ring_mask(buffer_count_),
                            static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(buffer_count_));

    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) fail("cannot create the wake eventfd", errno);
    arm_wake();
  } catch (...) {
    cleanup();
    throw;
  }
}

UringPort::~UringPort() { cleanup(); }

void UringPort::cleanup() noexcept {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  ring_ready_ = false;
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
  if (buffers_ != nullptr) ::munmap(buffers_, buffer_count_ * buffer_bytes_);
  buffers_ = nullptr;
  if (buffer_ring_ != nullptr) ::munmap(buffer_ring_, buffer_ring_bytes_);
  buffer_ring_ = nullptr;
}

std::size_t UringPort::run(std::chrono::nanoseconds timeout,
                           const std::function<void(const Completion&)>& on_each) {
  int rc;
  if (timeout <= std::chrono::nanoseconds::zero()) {
    // Submits and, with DEFER_TASKRUN, runs the completions' task work.
    rc = io_uring_submit_and_get_events(&ring_);
  } else {
    __kernel_timespec ts{};
    ts.tv_sec = static_cast<long long>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long long>(timeout.count() % 1'000'000'000);
    io_uring_cqe* first = nullptr;
    rc = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
  }
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
    fail("io_uring_enter", -rc);
  }
  std::size_t handed = 0;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  unsigned head;
  bool rearm = false;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    std::uint64_t token = io_uring_cqe_get_data64(cqe);
    if (token == wake_token) {
      rearm = true;
      continue;
    }
    if (token == cancel_token) continue;
    Completion c;
    c.token = token;
    c.result = cqe->res;
    c.more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
      unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      c.buffer = static_cast<std::int32_t>(id);
      if (cqe->res > 0) {
        c.data = {reinterpret_cast<const std::byte*>(buffer_at(id)),
                  static_cast<std::size_t>(cqe->res)};
      }
    }
    on_each(c);
    ++handed;
  }
  io_uring_cq_advance(&ring_, seen);
  if (rearm) arm_wake();
  return handed;
}

}  // namespace

std::unique_ptr<EventPort> make_uring_port(const PortConfig& config) {
  return std::make_unique<UringPort>(config);
}

std::string uring_unavailable_reason() {
  static const std::string reason = [] {
    try {
      UringPort port(PortConfig{8, 2, 4096});
      return std::string();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  }();
  return reason;
}

}  // namespace shoal::io
