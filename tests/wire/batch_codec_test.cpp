#include "wire/batch_codec.hpp"

#include <gtest/gtest.h>

#include <capnp/message.h>

#include <string>
#include <vector>

#include "tests/wire/wire_kit.hpp"

namespace shoal::wire::test {
namespace {

// Built by appending: g++ 12 warns falsely (-Wrestrict) on "n" + to_string.
std::string note_text(std::uint64_t i) {
  std::string s = "n";
  s += std::to_string(i);
  return s;
}

/// Decodes the single batch frame in `bytes` into `sink`.
FrameError decode_frame(const std::vector<std::byte>& bytes, const TypeRegistry& types,
                        RecordingSink& sink, std::string& error, const FrameLimits& limits = {}) {
  FrameHeader h;
  FrameError err = FrameError::none;
  if (parse_frame_header(bytes, limits, h, err) != HeaderStatus::ok) return err;
  EXPECT_EQ(h.frame_bytes, bytes.size());
  auto storage = aligned(bytes);
  FrameReader reader(as_bytes(storage, bytes.size()), limits);
  if (reader.error() != FrameError::none) {
    error = reader.message();
    return reader.error();
  }
  EXPECT_TRUE(reader.frame().isBatch());
  BatchDecoder decoder(types, limits);
  return decoder.decode(reader.frame().getBatch(), sink, error);
}

/// Serialises a hand-built frame, for frames shoal's writer would not make.
std::vector<std::byte> serialise(capnp::MessageBuilder& m) {
  std::vector<std::byte> out;
  detail::append_frame(m, out);
  return out;
}

class BatchCodec : public ::testing::Test {
 protected:
  void SetUp() override { register_test_types(types); }

  OutboundMessage message(const Envelope* e, OutboundRef target, std::uint64_t sequence) {
    OutboundMessage m;
    m.envelope = e;
    m.codec = types.find(e->type);
    m.target = target;
    m.sequence = sequence;
    return m;
  }

  TypeRegistry types;
  std::vector<std::unique_ptr<Envelope, void (*)(Envelope*)>> owned;
  Envelope* keep(Envelope* e) {
    owned.emplace_back(e, &destroy_envelope);
    return e;
  }
};

TEST_F(BatchCodec, RoundTripsABatchInOrderWithEachTableEntryOnce) {
  BatchWriter writer;
  for (std::uint64_t i = 0; i < 100; ++i) {
    OutboundMessage m = i % 10 == 9
                            ? message(keep(make_envelope(Note{note_text(i), {"t"}})),
                                      OutboundRef{0, "svc", {}}, 10 + i)
                            : message(keep(make_envelope(Ping{i})), OutboundRef{1 + i % 3, {}, {}},
                                      10 + i);
    if (i % 2 == 0) m.sender = OutboundRef{i % 4 == 0 ? 100u : 200u, {}, {}};
    ASSERT_EQ(writer.add(m), BatchWriter::Add::added) << i;
  }
  EXPECT_EQ(writer.size(), 100u);
  EXPECT_GT(writer.bytes(), 0u);
  std::vector<std::byte> frame;
  std::size_t n = writer.finish(frame);
  EXPECT_EQ(n, frame.size());
  EXPECT_EQ(writer.size(), 0u);

  {  // the tables hold each name once
    auto storage = aligned(frame);
    FrameReader reader(as_bytes(storage, frame.size()), {});
    ASSERT_EQ(reader.error(), FrameError::none);
    auto batch = reader.frame().getBatch();
    EXPECT_EQ(batch.getTypeNames().size(), 2u);
    EXPECT_EQ(batch.getTargets().size(), 4u);
    EXPECT_EQ(batch.getSenders().size(), 2u);
    EXPECT_EQ(batch.getFirstSequence(), 10u);
  }

  RecordingSink sink;
  for (std::uint64_t id : {1, 2, 3}) sink.add_target(id);
  sink.add_target(77, "svc");
  std::string error;
  ASSERT_EQ(decode_frame(frame, types, sink, error), FrameError::none) << error;
  EXPECT_TRUE(sink.rejected.empty());
  ASSERT_EQ(sink.delivered.size(), 100u);
  EXPECT_EQ(sink.senders_seen.size(), 2u) << "each sender resolved once per batch";
  for (std::uint64_t i = 0; i < 100; ++i) {
    const auto& d = sink.delivered[i];
    EXPECT_EQ(d.sequence, 10 + i);
    Envelope* e = d.envelope.get();
    if (i % 10 == 9) {
      EXPECT_EQ(d.target, 77u);
      ASSERT_TRUE(e->is<Note>());
      EXPECT_EQ(e->get<Note>()->text, note_text(i));
    } else {
      EXPECT_EQ(d.target, 1 + i % 3);
      ASSERT_TRUE(e->is<Ping>());
      EXPECT_EQ(e->get<Ping>()->count, i);
    }
    if (i % 2 == 0) {
      ASSERT_NE(e->sender_header(), nullptr) << i;
      EXPECT_EQ(e->sender_header()->sender.id(), 1'000'000u + (i % 4 == 0 ? 100u : 200u));
    } else {
      EXPECT_EQ(e->sender_header(), nullptr) << i;
    }
  }
}

TEST_F(BatchCodec, ARequestCarriesItsIdAndSender) {
  BatchWriter writer;
  OutboundMessage m = message(keep(make_envelope(Ping{5})), OutboundRef{1, {}, {}}, 1);
  m.sender = OutboundRef{3, {}, "10.1.1.1:9"};
  m.request_id = 0xabcdef;
  ASSERT_EQ(writer.add(m), BatchWriter::Add::added);
  std::vector<std::byte> frame;
  writer.finish(frame);
  RecordingSink sink;
  sink.add_target(1);
  std::string error;
  ASSERT_EQ(decode_frame(frame, types, sink, error), FrameError::none) << error;
  ASSERT_EQ(sink.delivered.size(), 1u);
  const SenderHeader* h = sink.delivered[0].envelope->sender_header();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->request_id, 0xabcdefu);
  ASSERT_EQ(sink.senders_seen.size(), 1u);
  EXPECT_EQ(sink.senders_seen[0].address, "10.1.1.1:9");
}

TEST_F(BatchCodec, AnUnknownTypeOrTargetCostsOnlyThatMessage) {
  TypeRegistry sender_types;
  register_test_types(sender_types);
  sender_types.add<Unregistered, msg::Ping>(
      "test.Unregistered", [](const Unregistered&, msg::Ping::Builder) {},
      [](msg::Ping::Reader) { return Unregistered{}; });
  BatchWriter writer;
  auto add = [&](Envelope* e, std::uint64_t target, std::uint64_t seq) {
    OutboundMessage m;
    m.envelope = keep(e);
    m.codec = sender_types.find(e->type);
    m.target = OutboundRef{target, {}, {}};
    m.sequence = seq;
    ASSERT_EQ(writer.add(m), BatchWriter::Add::added);
  };
  add(make_envelope(Ping{1}), 1, 1);
  {  // a request of a type the receiver lacks: its sender is reported
    OutboundMessage m;
    m.envelope = keep(make_envelope(Unregistered{}));
    m.codec = sender_types.find<Unregistered>();
    m.target = OutboundRef{1, {}, {}};
    m.sender = OutboundRef{55, {}, {}};
    m.request_id = 77;
    m.sequence = 2;
    ASSERT_EQ(writer.add(m), BatchWriter::Add::added);
  }
  add(make_envelope(Ping{3}), 99, 3);  // no actor 99 at the receiver
  add(make_envelope(Ping{4}), 1, 4);
  std::vector<std::byte> frame;
  writer.finish(frame);

  RecordingSink sink;
  sink.add_target(1);
  std::string error;
  ASSERT_EQ(decode_frame(frame, types, sink, error), FrameError::none) << error;
  ASSERT_EQ(sink.delivered.size(), 2u);
  EXPECT_EQ(sink.delivered[0].envelope->get<Ping>()->count, 1u);
  EXPECT_EQ(sink.delivered[1].envelope->get<Ping>()->count, 4u);
  ASSERT_EQ(sink.rejected.size(), 2u);
  EXPECT_EQ(sink.rejected[0].sequence, 2u);
  EXPECT_EQ(sink.rejected[0].why, Rejection::unknown_type);
  EXPECT_EQ(sink.rejected[0].type_name, "test.Unregistered");
  EXPECT_TRUE(sink.rejected[0].had_sender);
  EXPECT_EQ(sink.rejected[0].request_id, 77u);
  EXPECT_FALSE(sink.rejected[1].had_sender);
  EXPECT_EQ(sink.rejected[1].sequence, 3u);
  EXPECT_EQ(sink.rejected[1].why, Rejection::unknown_target);
  EXPECT_EQ(sink.rejected[1].type_name, "test.Ping");
}

TEST_F(BatchCodec, AThrowingEncoderLosesOnlyItsMessageAndLeavesNoBytesBehind) {
  auto build = [&](bool with_failure) {
    BatchWriter writer;
    std::uint64_t seq = 1;
    for (int i = 0; i < 5; ++i) {
      OutboundMessage m = message(keep(make_envelope(Ping{std::uint64_t(i)})),
                                  OutboundRef{1, {}, {}}, seq++);
      EXPECT_EQ(writer.add(m), BatchWriter::Add::added);
      if (i == 2) {
        OutboundMessage f = message(keep(make_envelope(Fragile{true})), OutboundRef{1, {}, {}},
                                    seq++);
        if (with_failure) {
          EXPECT_EQ(writer.add(f), BatchWriter::Add::encode_failed);
          EXPECT_NE(writer.error().find("refused to encode"), std::string::npos) << writer.error();
        }
      }
    }
    std::vector<std::byte> frame;
    writer.finish(frame);
    return frame;
  };
  auto clean = build(false);
  auto failed = build(true);
  // The same envelopes in another layout (the compacting copy), no more.
  EXPECT_EQ(failed.size(), clean.size()) << "the failed payload's words must not reach the wire";

  RecordingSink sink;
  sink.add_target(1);
  std::string error;
  ASSERT_EQ(decode_frame(failed, types, sink, error), FrameError::none) << error;
  ASSERT_EQ(sink.delivered.size(), 5u);
  EXPECT_EQ(sink.delivered[2].sequence, 3u);
  EXPECT_EQ(sink.delivered[3].sequence, 5u) << "the lost message leaves a gap the receiver sees";
}

TEST_F(BatchCodec, AMessageOverTheFrameLimitIsTooLargeAndABatchThatWouldOverflowIsFull) {
  FrameLimits limits;
  limits.max_frame_bytes = 4096;
  BatchWriter writer(limits);
  Envelope* big = keep(make_envelope(Note{std::string(5000, 'x'), {}}));
  EXPECT_EQ(writer.add(message(big, OutboundRef{1, {}, {}}, 1)), BatchWriter::Add::too_large);
  EXPECT_NE(writer.error().find("exceeds the frame limit"), std::string::npos) << writer.error();
  EXPECT_EQ(writer.size(), 0u);

  // Fill batches with 300-byte notes: each frame stays under the limit.
  std::vector<std::vector<std::byte>> frames;
  std::uint64_t seq = 1;
  std::size_t total = 0;
  for (int i = 0; i < 50; ++i) {
    OutboundMessage m = message(keep(make_envelope(Note{std::string(300, 'y'), {}})),
                                OutboundRef{1, {}, {}}, seq);
    auto r = writer.add(m);
    if (r == BatchWriter::Add::full) {
      frames.emplace_back();
      writer.finish(frames.back());
      r = writer.add(m);
    }
    ASSERT_EQ(r, BatchWriter::Add::added) << i;
    ++seq;
  }
  frames.emplace_back();
  writer.finish(frames.back());
  EXPECT_GT(frames.size(), 3u);
  RecordingSink sink;
  sink.add_target(1);
  for (const auto& f : frames) {
    EXPECT_LE(f.size(), limits.max_frame_bytes);
    std::string error;
    ASSERT_EQ(decode_frame(f, types, sink, error, limits), FrameError::none) << error;
    total += f.size();
  }
  ASSERT_EQ(sink.delivered.size(), 50u);
  for (std::uint64_t i = 0; i < 50; ++i) EXPECT_EQ(sink.delivered[i].sequence, i + 1);
  EXPECT_GT(total, 50u * 300u);
}

TEST_F(BatchCodec, ASequenceThatStepsBackOrJumpsFarStartsANewBatch) {
  BatchWriter writer;
  Envelope* e = keep(make_envelope(Ping{1}));
  ASSERT_EQ(writer.add(message(e, OutboundRef{1, {}, {}}, 5)), BatchWriter::Add::added);
  EXPECT_EQ(writer.add(message(e, OutboundRef{1, {}, {}}, 5)), BatchWriter::Add::full);
  EXPECT_EQ(writer.add(message(e, OutboundRef{1, {}, {}}, 4)), BatchWriter::Add::full);
  EXPECT_EQ(writer.add(message(e, OutboundRef{1, {}, {}}, 5 + (1ULL << 32))),
            BatchWriter::Add::full);
  EXPECT_EQ(writer.add(message(e, OutboundRef{1, {}, {}}, 4 + (1ULL << 32))),
            BatchWriter::Add::added);
  std::vector<std::byte> out;
  EXPECT_GT(writer.finish(out), 0u);
  EXPECT_EQ(writer.finish(out), 0u) << "an empty batch writes nothing";
}

// -- frames only a hostile or broken peer would send --

TEST_F(BatchCodec, IndicesOutsideTheirTablesRejectThatEnvelope) {
  capnp::MallocMessageBuilder m;
  auto batch = m.initRoot<schema::Frame>().initBatch();
  batch.setFirstSequence(1);
  batch.initTypeNames(1).set(0, "test.Ping");
  batch.initTargets(1)[0].setId(1);
  auto envs = batch.initEnvelopes(4);
  envs[0].setType(1);  // no type 1
  envs[1].setTarget(1);  // no target 1
  envs[1].setSequenceOffset(1);
  envs[2].setSender(1);  // no senders at all
  envs[2].setSequenceOffset(2);
  envs[3].setSequenceOffset(3);
  envs[3].initPayload().initAs<msg::Ping>().setCount(42);
  RecordingSink sink;
  sink.add_target(1);
  std::string error;
  ASSERT_EQ(decode_frame(serialise(m), types, sink, error), FrameError::none) << error;
  ASSERT_EQ(sink.rejected.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sink.rejected[i].why, Rejection::malformed_envelope);
    EXPECT_EQ(sink.rejected[i].sequence, 1 + i);
  }
  ASSERT_EQ(sink.delivered.size(), 1u);
  EXPECT_EQ(sink.delivered[0].envelope->get<Ping>()->count, 42u);
}

TEST_F(BatchCodec, APayloadOfTheWrongShapeOrTooDeepIsMalformed) {
  capnp::MallocMessageBuilder m;
  auto batch = m.initRoot<schema::Frame>().initBatch();
  auto names = batch.initTypeNames(2);
  names.set(0, "test.Ping");
  names.set(1, "test.Chain");
  batch.initTargets(1)[0].setId(1);
  auto envs = batch.initEnvelopes(3);
  envs[0].initPayload().initAs<capnp::List<std::uint64_t>>(3);  // a list, not a struct
  envs[1].setType(1);
  envs[1].setSequenceOffset(1);
  auto c = envs[1].initPayload().initAs<msg::Chain>();
  for (int d = 40; d > 0; --d) {
    c.setDepth(d);
    c = c.initNext();
  }
  envs[2].setType(1);
  envs[2].setSequenceOffset(2);
  envs[2].initPayload().initAs<msg::Chain>().setDepth(1);
  RecordingSink sink;
  sink.add_target(1);
  std::string error;
  ASSERT_EQ(decode_frame(serialise(m), types, sink, error), FrameError::none) << error;
  ASSERT_EQ(sink.rejected.size(), 2u);
  EXPECT_EQ(sink.rejected[0].why, Rejection::malformed_payload);
  EXPECT_EQ(sink.rejected[1].why, Rejection::malformed_payload);
  EXPECT_FALSE(sink.rejected[1].detail.empty());
  ASSERT_EQ(sink.delivered.size(), 1u);
  EXPECT_EQ(sink.delivered[0].envelope->get<Chain>()->depth, 1u);
}

TEST_F(BatchCodec, TablesOverTheirLimitsOrOverlongNamesFailTheFrame) {
  FrameLimits limits;
  limits.max_table_entries = 4;
  {
    capnp::MallocMessageBuilder m;
    auto batch = m.initRoot<schema::Frame>().initBatch();
    batch.initTypeNames(5);
    RecordingSink sink;
    std::string error;
    EXPECT_EQ(decode_frame(serialise(m), types, sink, error, limits), FrameError::limit_exceeded);
    EXPECT_NE(error.find("5 types"), std::string::npos) << error;
  }
  {
    capnp::MallocMessageBuilder m;
    auto batch = m.initRoot<schema::Frame>().initBatch();
    batch.initTypeNames(1).set(0, std::string(max_name_bytes + 1, 't'));
    RecordingSink sink;
    std::string error;
    EXPECT_EQ(decode_frame(serialise(m), types, sink, error), FrameError::bad_name);
  }
  {
    capnp::MallocMessageBuilder m;
    auto batch = m.initRoot<schema::Frame>().initBatch();
    batch.initTypeNames(1).set(0, "test.Ping");
    batch.initTargets(1)[0].setName(std::string(max_name_bytes + 1, 'a'));
    batch.initEnvelopes(1);
    RecordingSink sink;
    std::string error;
    EXPECT_EQ(decode_frame(serialise(m), types, sink, error), FrameError::bad_name);
    EXPECT_TRUE(sink.delivered.empty());
  }
  {
    FrameLimits few;
    few.max_envelopes = 2;
    capnp::MallocMessageBuilder m;
    m.initRoot<schema::Frame>().initBatch().initEnvelopes(3);
    RecordingSink sink;
    std::string error;
    EXPECT_EQ(decode_frame(serialise(m), types, sink, error, few), FrameError::limit_exceeded);
  }
}

TEST_F(BatchCodec, AnEnvelopeListThatIsNotAListFailsTheFrameNotTheProcess) {
  capnp::MallocMessageBuilder m;
  auto batch = m.initRoot<schema::Frame>().initBatch();
  // Rewrite the envelopes pointer by hand: a struct where a list belongs.
  capnp::AnyStruct::Builder any = capnp::toAny(batch);
  any.getPointerSection()[3].initAs<msg::Ping>().setCount(1);
  RecordingSink sink;
  std::string error;
  EXPECT_EQ(decode_frame(serialise(m), types, sink, error), FrameError::malformed);
  EXPECT_NE(error.find("malformed batch"), std::string::npos) << error;
}

}  // namespace
}  // namespace shoal::wire::test
