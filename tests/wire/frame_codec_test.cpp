#include "wire/frame_codec.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "tests/wire/wire_kit.hpp"

namespace shoal::wire::test {
namespace {

std::vector<std::byte> header_bytes(std::vector<std::uint32_t> words) {
  std::vector<std::byte> out(words.size() * 4);
  std::memcpy(out.data(), words.data(), out.size());
  return out;
}

TEST(FrameHeader, MeasuresOneAndManySegments) {
  FrameLimits limits;
  FrameHeader h;
  FrameError err = FrameError::none;
  // One segment of 3 words: 8-byte table, 24-byte body.
  auto one = header_bytes({0, 3});
  ASSERT_EQ(parse_frame_header(one, limits, h, err), HeaderStatus::ok);
  EXPECT_EQ(h.segments, 1u);
  EXPECT_EQ(h.header_bytes, 8u);
  EXPECT_EQ(h.frame_bytes, 32u);
  // Two segments: 12 bytes of table padded to 16.
  auto two = header_bytes({1, 2, 5});
  ASSERT_EQ(parse_frame_header(two, limits, h, err), HeaderStatus::ok);
  EXPECT_EQ(h.segments, 2u);
  EXPECT_EQ(h.header_bytes, 16u);
  EXPECT_EQ(h.frame_bytes, 16u + 56u);
  // Three segments: 16 bytes exactly.
  auto three = header_bytes({2, 1, 1, 1});
  ASSERT_EQ(parse_frame_header(three, limits, h, err), HeaderStatus::ok);
  EXPECT_EQ(h.header_bytes, 16u);
  EXPECT_EQ(h.frame_bytes, 40u);
}

TEST(FrameHeader, IsIncompleteUntilTheSegmentTableIsThere) {
  FrameLimits limits;
  FrameHeader h;
  FrameError err = FrameError::none;
  auto two = header_bytes({1, 2, 5});
  for (std::size_t n = 0; n < two.size(); ++n) {
    EXPECT_EQ(parse_frame_header(std::span(two).first(n), limits, h, err), HeaderStatus::incomplete)
        << n << " bytes";
  }
}

TEST(FrameHeader, RefusesTooManySegmentsFromTheFirstFourBytes) {
  FrameLimits limits;
  limits.max_segments = 8;
  FrameHeader h;
  FrameError err = FrameError::none;
  auto many = header_bytes({8});  // 9 segments
  EXPECT_EQ(parse_frame_header(many, limits, h, err), HeaderStatus::invalid);
  EXPECT_EQ(err, FrameError::too_many_segments);
  auto wrap = header_bytes({0xffffffffu});  // 2^32 segments, not 0
  err = FrameError::none;
  EXPECT_EQ(parse_frame_header(wrap, limits, h, err), HeaderStatus::invalid);
  EXPECT_EQ(err, FrameError::too_many_segments);
}

TEST(FrameHeader, RefusesAFrameOverTheSizeLimitBeforeItsBodyArrives) {
  FrameLimits limits;
  limits.max_frame_bytes = 1024;
  FrameHeader h;
  FrameError err = FrameError::none;
  auto fits = header_bytes({0, 127});  // 8 + 1016 bytes
  EXPECT_EQ(parse_frame_header(fits, limits, h, err), HeaderStatus::ok);
  auto big = header_bytes({0, 128});
  EXPECT_EQ(parse_frame_header(big, limits, h, err), HeaderStatus::invalid);
  EXPECT_EQ(err, FrameError::too_large);
  auto huge = header_bytes({1, 0xffffffffu, 0xffffffffu});  // no u32 overflow either
  err = FrameError::none;
  EXPECT_EQ(parse_frame_header(huge, limits, h, err), HeaderStatus::invalid);
  EXPECT_EQ(err, FrameError::too_large);
}

/// Parses exactly one frame from `bytes`, which must hold it all.
struct Parsed {
  std::vector<capnp::word> storage;
  std::optional<FrameReader> reader;
};
void parse_one(const std::vector<std::byte>& bytes, Parsed& p, const FrameLimits& limits = {}) {
  FrameHeader h;
  FrameError err = FrameError::none;
  ASSERT_EQ(parse_frame_header(bytes, limits, h, err), HeaderStatus::ok);
  ASSERT_EQ(h.frame_bytes, bytes.size());
  p.storage = aligned(bytes);
  p.reader.emplace(as_bytes(p.storage, bytes.size()), limits);
  ASSERT_EQ(p.reader->error(), FrameError::none) << p.reader->message();
}

TEST(ControlWriter, EveryControlFrameRoundTrips) {
  ControlWriter w;
  std::vector<std::byte> out;
  Parsed p;

  w.handshake("10.0.0.1:4000", 0xfeedULL, out);
  parse_one(out, p);
  auto f = p.reader->frame();
  ASSERT_TRUE(f.isHandshake());
  EXPECT_EQ(f.getHandshake().getVersion(), schema::PROTOCOL_VERSION);
  EXPECT_EQ(std::string(f.getHandshake().getAddress().cStr()), "10.0.0.1:4000");
  EXPECT_EQ(f.getHandshake().getIncarnation(), 0xfeedULL);
  // Not said: a peer reads the defaults.
  EXPECT_EQ(peer_limits(f.getHandshake()).max_frame_bytes, FrameLimits{}.max_frame_bytes);
  EXPECT_EQ(f.getHandshake().getNonce().size(), 0u);

  out.clear();
  FrameLimits mine;
  mine.max_frame_bytes = 1u << 16;
  mine.max_envelopes = 8;
  std::vector<std::byte> nonce(32, std::byte{7}), proof(32, std::byte{9});
  w.handshake({"10.0.0.1:4000", 0xfeedULL, 0xa55, &mine, nonce, proof}, out);
  parse_one(out, p);
  auto h = p.reader->frame().getHandshake();
  EXPECT_EQ(h.getAssociation(), 0xa55u);
  FrameLimits said = peer_limits(h);
  EXPECT_EQ(said.max_frame_bytes, 1u << 16);
  EXPECT_EQ(said.max_envelopes, 8u);
  EXPECT_EQ(said.max_table_entries, mine.max_table_entries);
  ASSERT_EQ(h.getNonce().size(), 32u);
  EXPECT_EQ(h.getNonce()[0], 7);
  ASSERT_EQ(h.getProof().size(), 32u);
  EXPECT_EQ(h.getProof()[31], 9);

  out.clear();
  w.auth(proof, out);
  parse_one(out, p);
  ASSERT_TRUE(p.reader->frame().isAuth());
  EXPECT_EQ(p.reader->frame().getAuth().getProof().size(), 32u);

  out.clear();
  w.heartbeat(77, true, out);
  parse_one(out, p);
  ASSERT_TRUE(p.reader->frame().isHeartbeat());
  EXPECT_EQ(p.reader->frame().getHeartbeat().getNonce(), 77u);
  EXPECT_TRUE(p.reader->frame().getHeartbeat().getReply());

  for (bool watch : {true, false}) {
    out.clear();
    w.watch(OutboundRef{5, {}, {}}, OutboundRef{0, "worker/1", {}}, watch, out);
    parse_one(out, p);
    auto frame = p.reader->frame();
    ASSERT_EQ(frame.isWatch(), watch);
    ASSERT_EQ(frame.isUnwatch(), !watch);
    auto body = watch ? frame.getWatch() : frame.getUnwatch();
    InboundRef watcher, watchee;
    ASSERT_TRUE(read_ref(body.getWatcher(), watcher));
    ASSERT_TRUE(read_ref(body.getWatchee(), watchee));
    EXPECT_EQ(watcher.id, 5u);
    EXPECT_EQ(watchee.name, "worker/1");
  }

  out.clear();
  w.terminated(OutboundRef{9, {}, {}}, OutboundRef{5, {}, "10.0.0.2:1"},
               schema::TerminatedReason::NOT_FOUND, out);
  parse_one(out, p);
  ASSERT_TRUE(p.reader->frame().isTerminated());
  EXPECT_EQ(p.reader->frame().getTerminated().getReason(), schema::TerminatedReason::NOT_FOUND);
  InboundRef watcher;
  ASSERT_TRUE(read_ref(p.reader->frame().getTerminated().getWatcher(), watcher));
  EXPECT_EQ(watcher.address, "10.0.0.2:1");

  out.clear();
  w.undeliverable(OutboundRef{12, {}, {}}, 99, schema::UndeliverableReason::UNKNOWN_TYPE,
                  OutboundRef{0, "svc", {}}, "app.Thing", out);
  parse_one(out, p);
  ASSERT_TRUE(p.reader->frame().isUndeliverable());
  {
    auto u = p.reader->frame().getUndeliverable();
    EXPECT_EQ(u.getRequestId(), 99u);
    EXPECT_EQ(u.getReason(), schema::UndeliverableReason::UNKNOWN_TYPE);
    EXPECT_EQ(std::string(u.getTypeName().cStr()), "app.Thing");
    InboundRef s, t;
    ASSERT_TRUE(read_ref(u.getSender(), s));
    ASSERT_TRUE(read_ref(u.getTarget(), t));
    EXPECT_EQ(s.id, 12u);
    EXPECT_EQ(t.name, "svc");
  }

  out.clear();
  w.stop(OutboundRef{0, "worker/2", {}}, out);
  parse_one(out, p);
  ASSERT_TRUE(p.reader->frame().isStop());
  InboundRef stopped;
  ASSERT_TRUE(read_ref(p.reader->frame().getStop().getTarget(), stopped));
  EXPECT_EQ(stopped.name, "worker/2");

  out.clear();
  w.disconnect("shutting down", out);
  parse_one(out, p);
  ASSERT_TRUE(p.reader->frame().isDisconnect());
  EXPECT_EQ(std::string(p.reader->frame().getDisconnect().getReason().cStr()), "shutting down");
}

TEST(ControlWriter, FramesLaidEndToEndStayAligned) {
  ControlWriter w;
  std::vector<std::byte> out;
  for (int i = 0; i < 10; ++i) w.heartbeat(i, false, out);
  ASSERT_EQ(out.size() % 8, 0u);
  auto storage = aligned(out);
  std::span<const std::byte> rest = as_bytes(storage, out.size());
  for (int i = 0; i < 10; ++i) {
    FrameHeader h;
    FrameError err = FrameError::none;
    ASSERT_EQ(parse_frame_header(rest, {}, h, err), HeaderStatus::ok);
    FrameReader r(rest.first(h.frame_bytes), {});
    ASSERT_EQ(r.error(), FrameError::none);
    EXPECT_EQ(r.frame().getHeartbeat().getNonce(), static_cast<std::uint64_t>(i));
    rest = rest.subspan(h.frame_bytes);
  }
  EXPECT_TRUE(rest.empty());
}

TEST(ReadRef, RefusesNamesOverTheLimit) {
  capnp::MallocMessageBuilder m;
  auto ref = m.initRoot<schema::ActorRef>();
  ref.setName(std::string(max_name_bytes + 1, 'n'));
  InboundRef out;
  EXPECT_FALSE(read_ref(ref.asReader(), out));
  ref.setName(std::string(max_name_bytes, 'n'));
  EXPECT_TRUE(read_ref(ref.asReader(), out));
  ref.setAddress(std::string(max_name_bytes + 1, 'a'));
  EXPECT_FALSE(read_ref(ref.asReader(), out));
}

TEST(FrameReader, ReportsGarbageAsMalformedNeverCrashes) {
  // A segment table that says one segment of 4 words, then garbage: the
  // root pointer points far out of the segment.
  std::vector<std::byte> bytes = header_bytes({0, 4});
  for (int i = 0; i < 32; ++i) bytes.push_back(std::byte{0xab});
  auto storage = aligned(bytes);
  FrameReader r(as_bytes(storage, bytes.size()), {});
  EXPECT_EQ(r.error(), FrameError::malformed);
  EXPECT_FALSE(r.message().empty());
}

TEST(FrameReader, SurvivesEveryTruncationAndRandomCorruptionOfAValidFrame) {
  ControlWriter w;
  std::vector<std::byte> good;
  w.watch(OutboundRef{5, "some/name", "10.0.0.9:77"}, OutboundRef{6, {}, {}}, true, good);
  // Truncations: the header parser says incomplete, or the reader (given
  // the short frame as if it were whole) reports, never crashes.
  for (std::size_t n = 0; n < good.size(); n += 1) {
    std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<long>(n));
    FrameHeader h;
    FrameError err = FrameError::none;
    auto status = parse_frame_header(cut, {}, h, err);
    EXPECT_NE(status, HeaderStatus::invalid) << n;
    if (status == HeaderStatus::ok) {
      EXPECT_GT(h.frame_bytes, n);
    }
    auto storage = aligned(cut);
    FrameReader r(as_bytes(storage, cut.size() / 8 * 8), {});
    if (r.error() == FrameError::none) {
      try {
        InboundRef ref;
        if (r.frame().isWatch()) (void)read_ref(r.frame().getWatch().getWatcher(), ref);
      } catch (const kj::Exception&) {
      }
    }
  }
  std::mt19937_64 rng(12345);
  int reported = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::byte> bad = good;
    for (int k = 0; k < 3; ++k) bad[8 + rng() % (bad.size() - 8)] = std::byte(rng() & 0xff);
    auto storage = aligned(bad);
    FrameReader r(as_bytes(storage, bad.size()), {});
    if (r.error() != FrameError::none) {
      ++reported;
      continue;
    }
    try {
      InboundRef ref;
      auto f = r.frame();
      if (f.isWatch()) {
        (void)read_ref(f.getWatch().getWatcher(), ref);
        (void)read_ref(f.getWatch().getWatchee(), ref);
      }
    } catch (const kj::Exception&) {
      ++reported;
    }
  }
  EXPECT_GT(reported, 0) << "2000 corruptions and not one reported";
}

}  // namespace
}  // namespace shoal::wire::test
