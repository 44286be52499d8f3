#include "io/connection.hpp"

#include <unistd.h>

#include <cstring>
#include <utility>

namespace shoal::io {

namespace {

// Reassembly capacity kept between frames: frames that straddle receive
// buffers are mostly batches of up to NodeConfig::batch_bytes (64 KiB).
constexpr std::size_t keep_words = (128u << 10) / 8;

}  // namespace

Connection::Connection(std::uint64_t serial_, int fd_, bool dialed_)
    : serial(serial_), fd(fd_), dialed(dialed_),
      state(dialed_ ? State::connecting : State::handshaking) {}

Connection::~Connection() {
  if (owns_fd_ && fd >= 0) ::close(fd);
}

// -- inbound --

bool Connection::feed(std::span<const std::byte> data, const wire::FrameLimits& limits,
                      const std::function<void(std::span<const std::byte>)>& on_frame,
                      wire::FrameError& error) {
  while (!data.empty()) {
    bool aligned = reinterpret_cast<std::uintptr_t>(data.data()) % 8 == 0;
    if (pending_bytes_ == 0 && aligned) {
      wire::FrameHeader h;
      auto status = wire::parse_frame_header(data, limits, h, error);
      if (status == wire::HeaderStatus::invalid) return false;
      if (status == wire::HeaderStatus::ok && h.frame_bytes <= data.size()) {
        on_frame(data.first(h.frame_bytes));  // in place
        data = data.subspan(h.frame_bytes);
        continue;
      }
    }
    // Straddles the buffer's end (or is misaligned): copy, then cut whole
    // frames out of the reassembly buffer.
    if (pending_bytes_ == 0) partial_since_ = std::chrono::steady_clock::now();
    std::size_t need_words = (pending_bytes_ + data.size() + 7) / 8;
    if (pending_.size() < need_words) pending_.resize(need_words);
    std::memcpy(reinterpret_cast<std::byte*>(pending_.data()) + pending_bytes_, data.data(),
                data.size());
    pending_bytes_ += data.size();
    return drain_pending(limits, on_frame, error);
  }
  return true;
}

bool Connection::drain_pending(const wire::FrameLimits& limits,
                               const std::function<void(std::span<const std::byte>)>& on_frame,
                               wire::FrameError& error) {
  auto* base = reinterpret_cast<std::byte*>(pending_.data());
  std::size_t at = 0;
  while (at < pending_bytes_) {
    std::span<const std::byte> rest(base + at, pending_bytes_ - at);
    wire::FrameHeader h;
    auto status = wire::parse_frame_header(rest, limits, h, error);
    if (status == wire::HeaderStatus::invalid) return false;
    if (status == wire::HeaderStatus::incomplete || h.frame_bytes > rest.size()) break;
    on_frame(rest.first(h.frame_bytes));  // frames are multiples of 8: `at` stays aligned
    at += h.frame_bytes;
  }
  if (at > 0) {
    std::memmove(base, base + at, pending_bytes_ - at);
    pending_bytes_ -= at;
    if (pending_bytes_ == 0 && pending_.size() > keep_words) {
      // A large frame passed: give its buffer back rather than hold it for
      // the connection's life (a peer could otherwise pin max_frame_bytes
      // per connection with one frame).
      std::vector<std::uint64_t>().swap(pending_);
    } else if (pending_bytes_ != 0) {
      partial_since_ = std::chrono::steady_clock::now();  // a new frame began
    }
  }
  return true;
}

// -- outbound --

std::span<const std::byte> Connection::next_send() {
  if (sending || !has_sendable()) return {};
  flight_done_ = 0;
  flight_plain_ = 0;
  flight_messages = 0;
  if (!tls) {
    flight_.swap(out);
    out.clear();
    flight_messages = std::exchange(out_messages, 0);
  } else {
    // The session's bytes first (its Finished before the first record),
    // then the frames, sealed once the session is established. Sealing
    // copies once more: records land in the session's buffer, then here.
    flight_.swap(tls_out);
    tls_out.clear();
    if (!out.empty() && tls->established()) {
      if (!tls->send(out, flight_)) {
        tls_failed = true;
        flight_.clear();
        return {};
      }
      flight_plain_ = out.size();
      out.clear();
      flight_messages = std::exchange(out_messages, 0);
    }
  }
  sending = true;
  return {flight_.data(), flight_.size()};
}

std::size_t Connection::sent(std::size_t n) noexcept {
  flight_done_ += n;
  const bool done = flight_done_ >= flight_.size();
  std::size_t carried = n;
  if (tls) carried = done ? flight_plain_ : 0;
  if (done) {
    sending = false;
    flight_.clear();
    flight_done_ = 0;
    flight_plain_ = 0;
    flight_messages = 0;
  }
  return carried;
}

std::span<const std::byte> Connection::rest_of_flight() const noexcept {
  return {flight_.data() + flight_done_, flight_.size() - flight_done_};
}

}  // namespace shoal::io
