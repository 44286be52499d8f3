// The golden frame: a batch shoal writes today, kept in
// tests/wire/golden/batch.bin. The writer must still produce it byte for
// byte (a change to the wire format shows up here first, and must come with
// a protocol version bump or a compatible schema change), and the decoder
// must still read it. tests/wire/capnp_decode.sh checks that Cap'n Proto's
// own `capnp decode` reads the same file against wire/frame.capnp.
//
// To regenerate after a deliberate change:
//   SHOAL_UPDATE_GOLDEN=1 build/tests/wire/golden_frame_test
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/wire/wire_kit.hpp"
#include "wire/batch_codec.hpp"

namespace shoal::wire::test {
namespace {

std::string golden_path() {
  const char* dir = std::getenv("SHOAL_GOLDEN_DIR");
  return std::string(dir != nullptr ? dir : "tests/wire/golden") + "/batch.bin";
}

std::vector<std::byte> golden_batch(const TypeRegistry& types) {
  std::vector<std::unique_ptr<Envelope, void (*)(Envelope*)>> keep;
  BatchWriter writer;
  auto add = [&](Envelope* e, OutboundRef target, std::optional<OutboundRef> sender,
                 std::uint64_t request_id, std::uint64_t sequence) {
    keep.emplace_back(e, &destroy_envelope);
    OutboundMessage m;
    m.envelope = e;
    m.codec = types.find(e->type);
    m.target = target;
    m.sender = sender;
    m.request_id = request_id;
    m.sequence = sequence;
    EXPECT_EQ(writer.add(m), BatchWriter::Add::added);
  };
  add(make_envelope(Ping{1}), OutboundRef{7, {}, {}}, std::nullopt, 0, 100);
  add(make_envelope(Note{"hello, wire", {"golden", "frame"}}), OutboundRef{0, "greeter", {}},
      OutboundRef{3, {}, {}}, 0, 101);
  add(make_envelope(Ping{2}), OutboundRef{7, {}, {}}, OutboundRef{3, {}, {}}, 0x5151, 103);
  add(make_envelope(Ping{3}), OutboundRef{0, "greeter", {}},
      OutboundRef{9, {}, "127.0.0.1:7001"}, 0, 104);
  std::vector<std::byte> out;
  writer.finish(out);
  return out;
}

TEST(GoldenFrame, TheWriterStillWritesItAndTheDecoderStillReadsIt) {
  TypeRegistry types;
  register_test_types(types);
  std::vector<std::byte> now = golden_batch(types);
  if (std::getenv("SHOAL_UPDATE_GOLDEN") != nullptr) {
    std::ofstream out(golden_path(), std::ios::binary);
    out.write(reinterpret_cast<const char*>(now.data()), static_cast<std::streamsize>(now.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << golden_path();
  }
  std::ifstream in(golden_path(), std::ios::binary);
  ASSERT_TRUE(in.good()) << "cannot read " << golden_path();
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> golden(raw.size());
  std::memcpy(golden.data(), raw.data(), raw.size());
  EXPECT_EQ(now, golden) << "the wire format changed: see the comment at the top of this file";

  FrameHeader h;
  FrameError err = FrameError::none;
  ASSERT_EQ(parse_frame_header(golden, {}, h, err), HeaderStatus::ok);
  ASSERT_EQ(h.frame_bytes, golden.size());
  auto storage = aligned(golden);
  FrameReader reader(as_bytes(storage, golden.size()), {});
  ASSERT_EQ(reader.error(), FrameError::none) << reader.message();
  RecordingSink sink;
  sink.add_target(7);
  sink.add_target(8, "greeter");
  BatchDecoder decoder(types);
  std::string error;
  ASSERT_EQ(decoder.decode(reader.frame().getBatch(), sink, error), FrameError::none) << error;
  ASSERT_EQ(sink.delivered.size(), 4u);
  EXPECT_TRUE(sink.rejected.empty());
  EXPECT_EQ(sink.delivered[1].envelope->get<Note>()->tags,
            (std::vector<std::string>{"golden", "frame"}));
  EXPECT_EQ(sink.delivered[2].sequence, 103u);
  EXPECT_EQ(sink.delivered[2].envelope->sender_header()->request_id, 0x5151u);
  EXPECT_EQ(sink.delivered[3].target, 8u);
}

}  // namespace
}  // namespace shoal::wire::test
