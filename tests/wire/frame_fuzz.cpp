// libFuzzer target for everything a peer's bytes reach before any actor
// does: the header parser, the frame reader, the batch decoder (with the
// test types registered, so payloads decode too) and the control frames'
// fields. Input: a byte stream as it would arrive on a connection.
//
// Built only with clang (meson -Dfuzz=enabled, CXX=clang++); tools/run-tests
// fuzz runs it for a bounded time from the golden frame as seed.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tests/wire/test_messages.capnp.h"
#include "tests/wire/wire_kit.hpp"

namespace {

using namespace shoal::wire;

/// Resolves every target (to one stub) and frees what it is given.
class DiscardingSink final : public BatchSink {
 public:
  DiscardingSink() : target_(test::stub_pid(1)) {}
  shoal::Pid resolve_target(const InboundRef&) override { return target_; }
  shoal::Pid resolve_sender(const InboundRef& s) override { return test::stub_pid(s.id); }
  void deliver(const shoal::Pid&, shoal::Envelope* e, std::uint64_t) override {
    shoal::destroy_envelope(e);
  }
  void reject(std::uint64_t, Rejection, std::string_view, std::string_view,
              const RejectedRequest*) override {}

 private:
  shoal::Pid target_;
};

void read_control(schema::Frame::Reader f) {
  InboundRef ref;
  switch (f.which()) {
    case schema::Frame::HANDSHAKE:
      (void)f.getHandshake().getAddress().size();
      break;
    case schema::Frame::WATCH:
    case schema::Frame::UNWATCH: {
      auto w = f.isWatch() ? f.getWatch() : f.getUnwatch();
      (void)read_ref(w.getWatcher(), ref);
      (void)read_ref(w.getWatchee(), ref);
      break;
    }
    case schema::Frame::TERMINATED:
      (void)read_ref(f.getTerminated().getWho(), ref);
      (void)read_ref(f.getTerminated().getWatcher(), ref);
      break;
    case schema::Frame::DISCONNECT:
      (void)f.getDisconnect().getReason().size();
      break;
    case schema::Frame::UNDELIVERABLE:
      (void)read_ref(f.getUndeliverable().getSender(), ref);
      (void)read_ref(f.getUndeliverable().getTarget(), ref);
      (void)f.getUndeliverable().getTypeName().size();
      break;
    case schema::Frame::STOP:
      (void)read_ref(f.getStop().getTarget(), ref);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static TypeRegistry* types = [] {
    auto* t = new TypeRegistry;
    test::register_test_types(*t);
    return t;
  }();
  FrameLimits limits;
  limits.max_frame_bytes = 1 << 20;
  std::vector<capnp::word> storage((size + 7) / 8);
  if (size != 0) std::memcpy(static_cast<void*>(storage.data()), data, size);
  std::span<const std::byte> rest(reinterpret_cast<const std::byte*>(storage.data()), size);
  BatchDecoder decoder(*types, limits);
  DiscardingSink sink;
  while (!rest.empty()) {
    FrameHeader h;
    FrameError err = FrameError::none;
    if (parse_frame_header(rest, limits, h, err) != HeaderStatus::ok) break;
    if (h.frame_bytes > rest.size()) break;
    FrameReader reader(rest.first(h.frame_bytes), limits);
    rest = rest.subspan(h.frame_bytes);
    if (reader.error() != FrameError::none) continue;
    try {
      auto f = reader.frame();
      if (f.isBatch()) {
        std::string error;
        (void)decoder.decode(f.getBatch(), sink, error);
      } else {
        read_control(f);
      }
    } catch (const kj::Exception&) {
      // A bad pointer where a control frame's field was followed: the
      // connection code catches this and closes; not a crash.
    }
  }
  return 0;
}
